/**
 * The wire contract: request/response schemas and the event catalogue. Imports nothing from the
 * app so the web console (and any TypeScript client) can import it alone.
 */
export * from './common.js';
export * from './agents.js';
export * from './tasks.js';
export * from './games.js';
export * from './events.js';
export * from './system.js';
export * from './analytics.js';
export * from './compat.js';
export * from './ws.js';
