/**
 * Per-backend circuit breaker: after `failureThreshold` consecutive upstream failures the circuit
 * opens and the backend is skipped (fallbacks answer) for `cooldownMs`; then one trial request
 * is let through (half-open): success closes the circuit, failure opens it again.
 */
import type { BreakerConfig } from '../config/schema.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private opened = false;

  constructor(
    private readonly config: BreakerConfig,
    private readonly now: () => number = Date.now,
    /** Told when the circuit opens (also again after a failed trial) and when it closes: for the log. */
    private readonly onChange?: (change: 'opened' | 'reopened' | 'closed') => void,
  ) {}

  get state(): BreakerState {
    if (!this.opened) return 'closed';
    return this.now() - this.openedAt >= this.config.cooldownMs ? 'half-open' : 'open';
  }

  /** Whether a request may go to the backend now; in half-open state only one at a time. */
  tryPass(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.trialInFlight = false;
    if (this.opened) {
      this.opened = false;
      this.onChange?.('closed');
    }
  }

  onFailure(): void {
    this.trialInFlight = false;
    if (this.opened) {
      // The half-open trial failed: wait a full cooldown again.
      this.openedAt = this.now();
      this.onChange?.('reopened');
      return;
    }
    if (++this.failures >= this.config.failureThreshold) {
      this.opened = true;
      this.openedAt = this.now();
      this.onChange?.('opened');
    }
  }

  /** The trial (or any call) ended in a way that says nothing about health (client error, abort). */
  onNeutral(): void {
    this.trialInFlight = false;
  }
}
