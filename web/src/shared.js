// What both built files (web/ticker.js and web/ticker-fallback.js) need to agree on.

/** The longest wait between two attempts, of any transport. */
export const MAX_BACKOFF_MS = 20e3;
