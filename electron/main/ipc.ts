/**
 * The IPC end of the API: `invoke` and `subscribe` for the contract, forwarded to the core's
 * router after checking that the sender is our own renderer's top frame.
 */
import { ipcMain, type IpcMainEvent, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { IPC_EVENT, IPC_INVOKE, IPC_SUBSCRIBE, IPC_UNSUBSCRIBE, type InvokeResult } from '../../core/api/wire';
import type { ApiRouter } from '../../core/api/router';
import type { Logger } from '../../core/lib/log';
import { isTrustedSender } from './security';

const refused: Extract<InvokeResult, { ok: false }> = {
  ok: false,
  error: { code: 'FORBIDDEN', message: 'IPC sender is not the Meshdeck renderer', issues: [] },
};

export function registerApiBridge(router: ApiRouter, origin: string, logger: Logger): () => void {
  const subscriptions = new Map<WebContents, Map<string, () => void>>();

  const trusted = (event: IpcMainEvent | IpcMainInvokeEvent, channel: string): boolean => {
    if (isTrustedSender(event.senderFrame, origin)) return true;
    logger.warn('refused IPC from an untrusted frame', { channel, url: event.senderFrame?.url ?? null });
    return false;
  };

  ipcMain.handle(IPC_INVOKE, async (event, method: unknown, input: unknown) => {
    if (!trusted(event, IPC_INVOKE)) return refused;
    if (typeof method !== 'string') {
      return { ok: false, error: { code: 'INVALID_INPUT', message: 'method must be a string', issues: [] } } satisfies InvokeResult;
    }
    return router.invoke(method, input, { transport: 'ipc', actor: 'desktop' });
  });

  ipcMain.on(IPC_SUBSCRIBE, (event, topic: unknown) => {
    if (!trusted(event, IPC_SUBSCRIBE) || typeof topic !== 'string') return;
    const sender = event.sender;
    let mine = subscriptions.get(sender);
    if (!mine) {
      mine = new Map();
      subscriptions.set(sender, mine);
      sender.once('destroyed', () => {
        for (const unsubscribe of subscriptions.get(sender)?.values() ?? []) unsubscribe();
        subscriptions.delete(sender);
      });
    }
    if (mine.has(topic)) return;
    try {
      mine.set(
        topic,
        router.subscribe(topic, (payload) => {
          if (!sender.isDestroyed()) sender.send(IPC_EVENT, topic, payload);
        }),
      );
    } catch (err) {
      logger.warn('refused subscription', { topic, err });
    }
  });

  ipcMain.on(IPC_UNSUBSCRIBE, (event, topic: unknown) => {
    if (!trusted(event, IPC_UNSUBSCRIBE) || typeof topic !== 'string') return;
    const mine = subscriptions.get(event.sender);
    mine?.get(topic)?.();
    mine?.delete(topic);
  });

  return () => {
    ipcMain.removeHandler(IPC_INVOKE);
    ipcMain.removeAllListeners(IPC_SUBSCRIBE);
    ipcMain.removeAllListeners(IPC_UNSUBSCRIBE);
    for (const mine of subscriptions.values()) for (const unsubscribe of mine.values()) unsubscribe();
    subscriptions.clear();
  };
}
