/**
 * Preload of the technician's PIN dialog (only that window has it): exposes exactly
 * `window.kiosk.requestExit(pin)`, which asks the main process to quit and resolves to its
 * `ExitDecision`. Nothing else of Electron or Node reaches the page.
 *
 * A sandboxed preload runs as a classic script with a small `require`, so it imports nothing
 * but `electron`; `main.ts` bundles it to CommonJS with esbuild before use.
 */
import { contextBridge, ipcRenderer } from 'electron';

/** Same as `EXIT_CHANNEL` in shell-core.ts (the test checks). */
const EXIT_CHANNEL = 'kiosk:request-exit';

contextBridge.exposeInMainWorld('kiosk', {
  requestExit: (pin: unknown): Promise<unknown> => ipcRenderer.invoke(EXIT_CHANNEL, typeof pin === 'string' ? pin : ''),
});
