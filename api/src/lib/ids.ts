import { uuidv7 } from 'uuidv7';

/** Time-ordered UUIDv7: new rows sort by creation, which keyset pagination relies on. */
export const newId = (): string => uuidv7();

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID_RE.test(value);
