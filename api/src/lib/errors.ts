/**
 * Typed errors thrown by services. One error handler (plugins/errors.ts) maps them to the
 * contract's shape: {"error": {"code", "message", "details"}, "request_id"}.
 */
export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, details: ErrorDetail[] = [], headers: Record<string, string> = {}) {
    super(message);
    this.name = 'AppError';
    this.statusCode = statusCode;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export class ValidationError extends AppError {
  constructor(field: string, message: string, extra: ErrorDetail[] = []) {
    super(400, 'validation_failed', `${field}: ${message}`, [{ field, message }, ...extra]);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'missing or invalid API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string) {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super(404, 'not_found', `${what} ${id} not found`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict', details: ErrorDetail[] = []) {
    super(409, code, message, details);
  }
}

export class UnavailableError extends AppError {
  constructor(message: string, retryAfterS = 5) {
    super(503, 'unavailable', message, [], { 'retry-after': String(retryAfterS) });
  }
}
