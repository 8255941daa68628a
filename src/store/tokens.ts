/** API tokens: only each token's SHA-256 is stored; the token itself is shown once, when issued. */

export interface TokenRecord {
  id: string;
  /** The team the token acts for; absent for an administrator's token. */
  team?: string;
  name: string;
  createdAtMs: number;
}

export interface TokenStore {
  save(token: TokenRecord, sha256: string): Promise<void>;
  find(sha256: string): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Deletes a token, unless it is the last administrator's token (`last_admin`), or none has that id. */
  revoke(id: string): Promise<'revoked' | 'not_found' | 'last_admin'>;
}
