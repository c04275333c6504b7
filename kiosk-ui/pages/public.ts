/// <reference lib="dom" />
/**
 * 结果全公开: the hall's public big screen (PROTOCOL 5 [r2] `GET /public`), a 1920x1080 screen
 * read from across the hall. No token: it reads `GET /api/public` (today's figures per window)
 * and `GET /api/public?period=month` (this month's) every few seconds, keeps the last figures
 * when the hub does not answer (and says since when), and pages through the windows when they
 * do not fit. It shows only what the hub publishes: counts, rates and the clerk on duty.
 * `?lang=en` shows it in English.
 */
import type { PublicAnswer, PublicPeriod } from '../../protocol/api.js';
import { setLang, t, translate } from './i18n.js';

/** How often the figures are read again, ms. */
const POLL_MS = 5000;
/** How long one page of windows stays, ms. */
const PAGE_MS = 10_000;

const $ = (id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new TypeError(`the page has no element #${id}`);
  return el;
};

let today: PublicAnswer | undefined;
let month: PublicAnswer | undefined;
let page = 0;

const pct = (rate: number | null) => (rate === null ? t('pubNone') : `${(rate * 100).toFixed(1)}%`);
const clock = (iso: string) => new Intl.DateTimeFormat(document.documentElement.lang, { timeZone: 'Asia/Shanghai', hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(Date.parse(iso));

async function read(period: 'today' | 'month'): Promise<PublicAnswer> {
  const res = await fetch(period === 'today' ? '/api/public' : '/api/public?period=month', { cache: 'no-store' });
  if (!res.ok) throw new Error(`the hub answered ${res.status}`);
  return (await res.json()) as PublicAnswer;
}

async function refresh(): Promise<void> {
  try {
    [today, month] = await Promise.all([read('today'), read('month')]);
    $('updated').className = '';
    $('updated').textContent = t('pubUpdated', { time: clock(today.updatedAt) });
    draw();
  } catch {
    // keep the last figures on screen, and say how old they are
    const el = $('updated');
    el.className = 'stale';
    el.textContent = today ? t('pubStale', { time: clock(today.updatedAt) }) : t('pubLoading');
  }
}

function period(prefix: 'today' | 'month', p: PublicPeriod): void {
  const rate = $(`${prefix}-rate`);
  rate.textContent = pct(p.satisfactionRate);
  rate.classList.toggle('none', p.satisfactionRate === null);
  $(`${prefix}-rated`).textContent = t('pubRated', { n: p.rated });
  $(`${prefix}-dissatisfied`).textContent = t('pubDissatisfied', { n: p.dissatisfied });
}

function draw(): void {
  if (!today) return;
  $('hall-name').textContent = today.hallName;
  document.title = `${today.hallName} ${t('pubTitle')}`;
  period('today', today.today);
  period('month', today.month);
  $('handling-open').textContent = String(today.handling.open);
  $('handling-overdue').textContent = String(today.handling.overdue);
  $('overdue-box').classList.toggle('some', today.handling.overdue > 0);
  $('handling-on-time').textContent = pct(today.handling.onTimeRate);
  drawWindows();
}

function cell(tag: 'th' | 'td', text: string, cls = ''): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  if (tag === 'th') el.setAttribute('scope', 'row');
  return el;
}

function rateCell(rate: number | null): HTMLElement {
  return cell('td', pct(rate), `num rate-cell${rate === null ? ' none' : ''}`);
}

/** The windows that fit on one page; the rest on the next pages, in turn. */
function drawWindows(): void {
  if (!today) return;
  const windows = today.windows;
  const monthOf = new Map((month?.windows ?? []).map((w) => [w.windowId, w]));
  const body = document.querySelector('#windows tbody')!;
  const row = (w: PublicAnswer['windows'][number]) => {
    const tr = document.createElement('tr');
    tr.dataset['window'] = w.windowId;
    tr.append(cell('th', w.name), cell('td', w.staffName || t('pubNone')), cell('td', String(w.rated), 'num'), rateCell(w.satisfactionRate), rateCell(monthOf.get(w.windowId)?.satisfactionRate ?? null));
    return tr;
  };
  $('no-windows').hidden = windows.length > 0;
  // measure how many rows fit: one row drawn, then the box's height divided by it
  body.replaceChildren(...windows.slice(0, 1).map(row));
  const box = $('windows-box');
  const head = document.querySelector('#windows thead')!.getBoundingClientRect().height;
  const one = body.firstElementChild?.getBoundingClientRect().height ?? 1;
  const perPage = Math.max(1, Math.floor((box.clientHeight - head) / one));
  const pages = Math.max(1, Math.ceil(windows.length / perPage));
  page %= pages;
  body.replaceChildren(...windows.slice(page * perPage, (page + 1) * perPage).map(row));
  $('windows-page').textContent = pages > 1 ? t('pubPage', { page: page + 1, pages }) : '';
}

function main(): void {
  setLang(new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'zh-CN');
  translate();
  $('updated').textContent = t('pubLoading');
  void refresh();
  window.setInterval(() => void refresh(), POLL_MS);
  window.setInterval(() => {
    page++;
    drawWindows();
  }, PAGE_MS);
  window.addEventListener('resize', drawWindows);
}

main();
