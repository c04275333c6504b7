/// <reference lib="dom" />
/**
 * The citizen's QR rating page on a phone (PROTOCOL 8, `GET /r/{token}`): five levels with
 * faces and words, reasons for a 差评, an optional comment, thanks. Small on purpose (no
 * framework, no MQTT: a few KB for a slow phone on the hall's guest Wi-Fi); it reads the
 * token from its own path, asks the hub what the link may do (`GET /api/rate/{token}`) and
 * posts the rating (`POST /api/rate/{token}`). A rating that did not get through is kept in
 * the page and sent again with 重试: the same rating twice is a repeat, never a second one.
 */
import type { Reason } from '../../protocol/index.js';

type LinkState =
  | { state: 'open'; hallName: string; windowName: string; staffName: string | null; matterName: string | null; reasons: Reason[] }
  | { state: 'rated'; hallName: string; byThisLink: boolean }
  | { state: 'expired' | 'bad-token'; hallName: string };
interface Ack {
  id: string;
  status: 'ok' | 'duplicate' | 'rejected';
  reason?: string;
}
interface Rating {
  level: number;
  reasons?: string[];
  comment?: string;
}

const WORDS = ['', '非常不满意', '不满意', '基本满意', '满意', '非常满意'];
/** Title and text of each message; the keys are the hub's refusal reasons and the page's own failures. */
const MESSAGES: Record<string, [string, string]> = {
  'already-evaluated': ['此次办件已评价', '每次办事只能评价一次，感谢您的参与。'],
  expired: ['评价链接已过期', '二维码已超过有效期。如需评价，请联系大厅工作人员。'],
  'bad-token': ['评价链接无效', '请重新扫描窗口提供的二维码。'],
  invalid: ['提交的内容有误', '请返回重新选择。'],
  network: ['网络不畅，评价尚未提交', '请检查网络后点击“重试”。'],
};
const SECTIONS = ['loading', 'choose', 'detail', 'sending', 'thanks', 'message'] as const;
/** The token as it stands in the path (already URL-encoded). */
const token = location.pathname.replace(/^\/r\//, '');
const $ = (id: string) => document.getElementById(id)!;
let reasons: Reason[] = [];
let level = 0;
const chosen = new Set<string>();

function show(section: (typeof SECTIONS)[number]): void {
  for (const s of SECTIONS) $(s).hidden = s !== section;
  document.body.dataset['screen'] = section;
  scrollTo(0, 0);
}

/** A message; `retry` offers 重试, `again` goes back to the levels. */
function message(key: string, options: { retry?: () => void; again?: boolean } = {}): void {
  const [title, text] = MESSAGES[key] ?? MESSAGES['bad-token']!;
  $('message-title').textContent = title;
  $('message-text').textContent = text;
  const retry = $('retry');
  retry.hidden = !options.retry;
  retry.onclick = options.retry ?? null;
  $('again').hidden = !options.again;
  show('message');
}

function face(level: number): string {
  // the mouth from a frown (1) to a broad smile (5); the word beside it is the real cue
  const curve = [0, -14, -7, 0, 8, 16][level]!;
  return `<svg viewBox="0 0 100 100" aria-hidden="true"><circle cx="50" cy="50" r="45" fill="none" stroke="currentColor" stroke-width="6"/><circle cx="35" cy="40" r="6" fill="currentColor"/><circle cx="65" cy="40" r="6" fill="currentColor"/><path d="M30 ${66 - curve / 2}Q50 ${66 + curve} 70 ${66 - curve / 2}" fill="none" stroke="currentColor" stroke-width="6" stroke-linecap="round"/></svg>`;
}

/** One call to the hub's rating route; a network failure or a 20 s silence rejects. */
async function call(body?: Rating): Promise<Response> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 20_000);
  try {
    return await fetch(`/api/rate/${token}`, {
      method: body ? 'POST' : 'GET',
      cache: 'no-store',
      signal: abort.signal,
      ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
  } finally {
    clearTimeout(timer);
  }
}

async function load(): Promise<void> {
  show('loading');
  let link: LinkState;
  try {
    link = (await (await call()).json()) as LinkState;
  } catch {
    message('network', { retry: () => void load() });
    return;
  }
  if (link.hallName) $('hall').textContent = link.hallName;
  if (link.state === 'open') {
    reasons = link.reasons;
    const txn = $('txn');
    txn.textContent = [link.windowName, link.matterName, link.staffName && `工作人员 ${link.staffName}`].filter(Boolean).join(' · ');
    txn.hidden = false;
    show('choose');
  } else if (link.state === 'rated') {
    if (link.byThisLink) show('thanks');
    else message('already-evaluated');
  } else message(link.state);
}

async function send(rating: Rating): Promise<void> {
  show('sending');
  let ack: Ack;
  try {
    const res = await call(rating);
    if (res.status >= 500) throw new Error(`hub answered ${res.status}`);
    ack = (await res.json()) as Ack;
  } catch {
    message('network', { retry: () => void send(rating) });
    return;
  }
  if (ack.status !== 'rejected') show('thanks');
  else message(ack.reason ?? 'invalid', { again: ack.reason === 'invalid' });
}

function choose(chosenLevel: number): void {
  level = chosenLevel;
  if (level > 2) {
    void send({ level });
    return;
  }
  // a 差评: why, in the hall's own reasons, and anything else the citizen wants to say
  chosen.clear();
  $('chosen').textContent = WORDS[level]!;
  renderReasons();
  show('detail');
}

function renderReasons(): void {
  const box = $('reasons');
  box.textContent = '';
  for (const r of reasons) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'chip';
    b.dataset['reason'] = r.code;
    const on = chosen.has(r.code);
    b.setAttribute('aria-pressed', String(on));
    b.textContent = `${on ? '✓ ' : ''}${r.zh}`;
    b.onclick = () => {
      if (!chosen.delete(r.code)) chosen.add(r.code);
      renderReasons();
    };
    box.appendChild(b);
  }
}

const levels = $('levels');
for (const l of [5, 4, 3, 2, 1]) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `level level-${l}`;
  b.dataset['level'] = String(l);
  b.innerHTML = `${face(l)}<span>${WORDS[l]}</span>`;
  b.onclick = () => choose(l);
  levels.appendChild(b);
}
$('back').onclick = () => show('choose');
$('again').onclick = () => show('choose');
$('send').onclick = () => {
  const comment = ($('comment') as HTMLTextAreaElement).value.trim();
  void send({ level, reasons: [...chosen], ...(comment ? { comment } : {}) });
};
void load();
