/** Everything the evaluator shows or says, Chinese first (settings.language 0) and English (1). */
export const TEXTS = {
  connecting: ['正在连接…', 'Connecting…'],
  signedOut: ['窗口未开放', 'Window closed'],
  paused: ['暂停服务', 'Service paused'],
  welcome: ['欢迎', 'Welcome'],
  serving: ['正在办理', 'Serving'],
  pleaseRate: ['请您评价', 'Please rate our service'],
  thanks: ['谢谢您的评价', 'Thank you'],
  queueFull: ['存储已满 请联系管理员', 'Storage full: call a technician'],
  storageFault: ['存储故障 请联系管理员', 'Storage fault: call a technician'],
  technician: ['维护模式', 'Technician mode'],
  selfTest: ['自检中…', 'Self-test…'],
  linkUp: ['已连接', 'online'],
  linkDown: ['未连接', 'offline'],
  queued: ['待发送', 'queued'],
  stuck: ['按键卡住', 'Button stuck'],
} as const satisfies Record<string, readonly [string, string]>;

export type TextKey = keyof typeof TEXTS;

export function text(key: TextKey, language: number): string {
  return TEXTS[key][language === 1 ? 1 : 0];
}
