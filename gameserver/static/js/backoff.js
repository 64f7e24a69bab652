// Reconnection back-off: 0.5 s doubling to 10 s, with jitter (pure, testable).

export const BASE_DELAY_MS = 500;
export const MAX_DELAY_MS = 10_000;
export const JITTER = 0.25;

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry).
 * The nominal delay is min(10 s, 0.5 s * 2^attempt); jitter moves it by up to +-25 %
 * so that a whole room does not reconnect in lock-step after a restart.
 * @param {number} attempt
 * @param {() => number} [random] returns a number in [0, 1)
 */
export function reconnectDelay(attempt, random = Math.random) {
  const nominal = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt));
  const factor = 1 - JITTER + 2 * JITTER * random();
  return Math.round(Math.min(MAX_DELAY_MS, nominal * factor));
}
