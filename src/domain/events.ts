/** Payloads of the LLD's domain events: the ids its cascade rules need. */
export interface DomainEventMap {
  'gig.created': { gigId: number, postedById: number, status: string, featured: boolean, category: string }
  /**
   * `featured`: the gig was or is featured (it shows on /featured). `listingChanged`: a field that
   * decides which listings hold the gig, or the counts by category and skill, changed (category,
   * skills, budget, status); a title or description edit leaves it false. Absent (an outbox row
   * written before it existed): treated as changed. `searchTerms`: the lexemes of the gig's
   * searchable text before and after the edit (absent when too many: every search result goes).
   */
  'gig.updated': { gigId: number, postedById: number, version: number, featured: boolean, category: string, listingChanged?: boolean, searchTerms?: string[], applicantIds: number[] }
  'gig.deleted': { gigId: number, postedById: number, category: string, applicantIds: number[], applicationIds: number[], assignmentId: number | null }
  'gig.status_changed': { gigId: number, postedById: number, from: string, to: string, version: number, applicantIds: number[] }
  'application.created': { applicationId: number, gigId: number, applicantId: number, postedById: number }
  'application.updated': { applicationId: number, gigId: number, applicantId: number, postedById: number, status: string, version: number }
  'application.accepted': { applicationId: number, gigId: number, applicantId: number, postedById: number, assignmentId: number, version: number }
  'application.rejected': { applicationId: number, gigId: number, applicantId: number, postedById: number, version: number }
  'submission.created': { submissionId: number, gigId: number, assignmentId: number, submitterId: number, postedById: number }
  'submission.reviewed': { submissionId: number, gigId: number, assignmentId: number, submitterId: number, postedById: number, status: string, version: number }
  'assignment.payment_updated': { assignmentId: number, gigId: number, workerId: number, postedById: number, from: string, to: string, version: number }
  'user.updated': { userId: number, version: number }
}

export type DomainEventName = keyof DomainEventMap
export type DomainEvent = { [K in DomainEventName]: { name: K, payload: DomainEventMap[K] } }[DomainEventName]
export type DomainEventListener<K extends DomainEventName = DomainEventName> =
  (payload: DomainEventMap[K], name: K) => void | Promise<void>
type AnyListener = (event: DomainEvent) => void | Promise<void>

export const DOMAIN_EVENT_NAMES: readonly DomainEventName[] = [
  'gig.created', 'gig.updated', 'gig.deleted', 'gig.status_changed',
  'application.created', 'application.updated', 'application.accepted', 'application.rejected',
  'submission.created', 'submission.reviewed', 'assignment.payment_updated', 'user.updated'
]

/**
 * One typed in-process bus. `emit` awaits every listener so the writing request can wait for its
 * invalidations before replying; a listener's failure is reported, never thrown into the write.
 */
export class DomainEvents {
  readonly #listeners = new Map<DomainEventName, Set<DomainEventListener<never>>>()
  readonly #any = new Set<AnyListener>()
  readonly #onError: (err: unknown, event: DomainEvent) => void

  constructor (onError: (err: unknown, event: DomainEvent) => void = () => {}) {
    this.#onError = onError
  }

  /** Subscribes to one event; returns the unsubscribe function. */
  on<K extends DomainEventName> (name: K, listener: DomainEventListener<K>): () => void {
    let set = this.#listeners.get(name)
    if (!set) this.#listeners.set(name, (set = new Set()))
    set.add(listener as DomainEventListener<never>)
    return () => { set.delete(listener as DomainEventListener<never>) }
  }

  /** Subscribes to every event. */
  onAny (listener: AnyListener): () => void {
    this.#any.add(listener)
    return () => { this.#any.delete(listener) }
  }

  /** Delivers one event to its listeners and waits for all of them. */
  async emit (event: DomainEvent): Promise<void> {
    const calls: Array<void | Promise<void>> = []
    const run = (fn: () => void | Promise<void>): void => {
      try {
        const r = fn()
        if (r) calls.push(r.catch((err: unknown) => this.#onError(err, event)))
      } catch (err) {
        this.#onError(err, event)
      }
    }
    const set = this.#listeners.get(event.name)
    if (set) {
      for (const l of set) run(() => (l as DomainEventListener)(event.payload, event.name))
    }
    for (const l of this.#any) run(() => l(event))
    if (calls.length > 0) await Promise.all(calls)
  }
}
