import type { SessionStore } from './context.ts'

const MAX_VIEWS = 50
const MAX_SEARCHES = 20

export interface RecentView { gigId: number, viewedAt: string }
export interface SearchEntry { query: Record<string, unknown>, searchedAt: string }

/** The caller's own short-lived data, kept in the cache store under the LLD's session keys. */
export class Sessions {
  constructor (private readonly store: SessionStore, private readonly now: () => number = Date.now) {}

  static viewsKey (userId: number): string { return `session:gig_views:${userId}` }
  static searchesKey (userId: number): string { return `session:search_history:${userId}` }
  static draftKey (userId: number, gigId: number): string { return `session:draft_autosave:${userId}:${gigId}` }

  /** Records a gig view, most recent first, without duplicates. */
  async recordView (userId: number, gigId: number): Promise<void> {
    const views = await this.recentViews(userId)
    const next = [{ gigId, viewedAt: new Date(this.now()).toISOString() }, ...views.filter((v) => v.gigId !== gigId)]
    await this.store.set(Sessions.viewsKey(userId), JSON.stringify(next.slice(0, MAX_VIEWS)), 'viewHistory')
  }

  async recentViews (userId: number): Promise<RecentView[]> {
    return this.#readList<RecentView>(Sessions.viewsKey(userId))
  }

  /** Records a search, most recent first; an identical repeat moves to the front. */
  async recordSearch (userId: number, query: Record<string, unknown>): Promise<void> {
    const history = await this.searchHistory(userId)
    const same = JSON.stringify(query)
    const next = [{ query, searchedAt: new Date(this.now()).toISOString() }, ...history.filter((h) => JSON.stringify(h.query) !== same)]
    await this.store.set(Sessions.searchesKey(userId), JSON.stringify(next.slice(0, MAX_SEARCHES)), 'searchHistory')
  }

  async searchHistory (userId: number): Promise<SearchEntry[]> {
    return this.#readList<SearchEntry>(Sessions.searchesKey(userId))
  }

  async saveDraft (userId: number, gigId: number, data: Record<string, unknown>): Promise<{ gigId: number, data: Record<string, unknown>, savedAt: string }> {
    const entry = { gigId, data, savedAt: new Date(this.now()).toISOString() }
    await this.store.set(Sessions.draftKey(userId, gigId), JSON.stringify(entry), 'draftAutosave')
    return entry
  }

  async getDraft (userId: number, gigId: number): Promise<{ gigId: number, data: Record<string, unknown>, savedAt: string } | undefined> {
    const raw = await this.store.get(Sessions.draftKey(userId, gigId))
    return raw === undefined ? undefined : JSON.parse(raw)
  }

  async deleteDraft (userId: number, gigId: number): Promise<void> {
    await this.store.delete(Sessions.draftKey(userId, gigId))
  }

  async #readList<T> (key: string): Promise<T[]> {
    const raw = await this.store.get(key)
    if (raw === undefined) return []
    const parsed: unknown = JSON.parse(raw)
    return Array.isArray(parsed) ? parsed as T[] : []
  }
}
