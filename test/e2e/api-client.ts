import { waitFor } from '@corebank/kit';

/** A few lines of HTTP for the end-to-end tests: the seed's curl calls, in TypeScript. */
export function apiClient(baseUrl: string) {
  const call = async (method: string, path: string, account: string | undefined, body?: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(account !== undefined ? { X_ACCOUNT_ID: account } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  const statusOf = async (account: string, transactionId: string) => (await call('GET', `/transaction/${transactionId}`, account)).body?.status as string;
  return {
    call,
    deposit: (account: string, quantity: number, headers?: Record<string, string>) => call('POST', '/transaction/deposit', account, JSON.stringify({ quantity }), headers),
    withdraw: (account: string, quantity: number, headers?: Record<string, string>) => call('POST', '/transaction/withdraw', account, JSON.stringify({ quantity }), headers),
    balance: async (account: string) => (await call('GET', '/balance', account)).body.balance as number,
    count: async (account: string, period: string) => (await call('GET', `/count/${account}/${period}`, undefined)).body.count as number,
    statusOf,
    /** Polls GET /transaction/{id} until the saga ends, or fails after the deadline. */
    async finished(account: string, transactionId: string, timeoutMs = 20_000): Promise<string> {
      let status = '';
      await waitFor(`saga ${transactionId} to end`, async () => {
        status = await statusOf(account, transactionId);
        if (status === 'status#pending') throw new Error('still pending');
      }, timeoutMs, 20);
      return status;
    },
  };
}
