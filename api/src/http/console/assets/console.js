// Ringback console: renders the pages from the console's JSON routes (`/console/api/...`, the same
// handlers as `/v1/...`, authenticated by the session cookie). Text is only ever set through
// textContent, so nothing a caller says can become markup. No framework, nothing fetched from
// elsewhere: the console works offline.
'use strict';

(function () {
  const page = document.body.dataset.page;

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  /** Calls a console JSON route; a lost session goes back to sign-in. */
  async function api(path, options) {
    const opts = Object.assign({ credentials: 'same-origin', headers: {} }, options || {});
    if (opts.method && opts.method !== 'GET') {
      opts.headers['X-CSRF-Token'] = csrf();
    }
    const res = await fetch(path, opts);
    if (res.status === 401) {
      window.location.assign('/console/sign-in?ended=1');
      throw new Error('signed out');
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      throw new Error((body && body.error && body.error.message) || res.statusText);
    }
    return body;
  }

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'text') node.textContent = value;
      else if (name === 'class') node.className = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function status(text, isError) {
    const node = document.getElementById('status');
    if (!node) return;
    node.textContent = text || '';
    node.className = isError ? 'error' : 'muted';
  }

  function when(rfc3339) {
    return rfc3339 ? rfc3339.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') : '';
  }

  function clock(ms) {
    const s = Math.max(0, ms) / 1000;
    const m = Math.floor(s / 60);
    return m + ':' + (s - m * 60).toFixed(1).padStart(4, '0');
  }

  function otherParty(call) {
    return call.direction === 'inbound' ? (call.from || '') : call.to;
  }

  // ---- The call list -------------------------------------------------------------------------

  /** The list's query from the filter form: the same parameters as GET /v1/calls. */
  function listParams(form) {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const name of ['outcome', 'direction', 'number_suffix', 'q']) {
      const value = (data.get(name) || '').trim();
      if (value) params.set(name, value);
    }
    const from = data.get('from_date');
    if (from) params.set('created_after', from + 'T00:00:00Z');
    const to = data.get('to_date');
    if (to) {
      const next = new Date(to + 'T00:00:00Z');
      next.setUTCDate(next.getUTCDate() + 1);
      params.set('created_before', next.toISOString());
    }
    return params;
  }

  function fillForm(form, params) {
    for (const name of ['outcome', 'direction', 'number_suffix', 'q']) {
      if (params.has(name)) form.elements[name].value = params.get(name);
    }
    if (params.has('created_after')) form.elements.from_date.value = params.get('created_after').slice(0, 10);
    if (params.has('created_before')) {
      const before = new Date(params.get('created_before'));
      before.setUTCDate(before.getUTCDate() - 1);
      form.elements.to_date.value = before.toISOString().slice(0, 10);
    }
  }

  function callRow(call) {
    const link = el('a', { href: '/console/calls/' + encodeURIComponent(call.call_id), 'data-call-id': call.call_id, text: otherParty(call) || call.call_id });
    return el('tr', { 'data-call-id': call.call_id },
      el('td', { text: when(call.created_at) }),
      el('td', { text: call.direction }),
      el('td', {}, link),
      el('td', { text: call.lifecycle }),
      el('td', { class: call.outcome ? 'outcome-' + call.outcome : '', text: call.outcome || '' }),
      el('td', { text: call.talk_seconds != null ? call.talk_seconds.toFixed(1) + ' s' : '' }),
      el('td', { class: 'summary', text: call.summary || '' }));
  }

  function callsPage() {
    const form = document.getElementById('filters');
    const body = document.querySelector('#calls tbody');
    const more = document.getElementById('more');
    const exportLink = document.getElementById('export');
    let cursor = null;

    async function load(append) {
      const params = listParams(form);
      exportLink.href = '/console/calls.csv' + (params.toString() ? '?' + params : '');
      if (append && cursor) params.set('cursor', cursor);
      params.set('limit', '50');
      status('Loading…');
      try {
        const list = await api('/console/api/calls?' + params);
        if (!append) body.replaceChildren();
        for (const call of list.data) body.append(callRow(call));
        cursor = list.next_cursor;
        more.hidden = !cursor;
        const shown = body.children.length;
        status(shown === 0 ? 'No calls match.' : shown + (shown === 1 ? ' call' : ' calls') + (cursor ? ' (more below)' : ''));
      } catch (err) {
        status(err.message, true);
      }
    }

    fillForm(form, new URLSearchParams(window.location.search));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const params = listParams(form);
      history.replaceState(null, '', '/console/calls' + (params.toString() ? '?' + params : ''));
      load(false);
    });
    more.addEventListener('click', () => load(true));
    load(false);
  }

  // ---- One call ------------------------------------------------------------------------------

  function facts(dl, pairs) {
    dl.replaceChildren();
    for (const [name, value] of pairs) {
      if (value === null || value === undefined || value === '') continue;
      dl.append(el('dt', { text: name }), el('dd', { text: String(value) }));
    }
  }

  /** Transcript turns, DTMF digits and the machine-detection verdict, in time order. */
  function timeline(call) {
    const items = call.transcript.map((turn) => ({ at: turn.start_ms, turn }));
    for (const d of call.dtmf || []) items.push({ at: d.at_ms, event: 'DTMF ' + d.digit + ' ' + d.direction });
    if (call.amd && call.amd.decided_ms != null) {
      items.push({ at: call.amd.decided_ms, event: 'Answering machine detection: ' + call.amd.verdict + ' (' + Math.round(call.amd.confidence * 100) + '%)' });
    }
    items.sort((a, b) => a.at - b.at);
    return items;
  }

  function turnItem(item) {
    if (item.event) {
      return el('li', { class: 'event' }, el('span', { class: 'time', text: clock(item.at) }), el('span', { class: 'role', text: 'event' }), el('span', { text: item.event }));
    }
    const turn = item.turn;
    const text = el('span', { class: 'text', text: turn.text });
    if (turn.interrupted) text.append(el('span', { class: 'badge', text: 'interrupted' }));
    return el('li', { class: 'turn ' + turn.role, 'data-start-ms': turn.start_ms, 'data-end-ms': turn.end_ms },
      el('span', { class: 'time', text: clock(turn.start_ms) }),
      el('span', { class: 'role', text: turn.role }),
      text);
  }

  function renderCall(call) {
    facts(document.getElementById('facts'), [
      ['Direction', call.direction],
      ['To', call.to],
      ['From', call.from],
      ['Lifecycle', call.lifecycle],
      ['Outcome', call.outcome],
      ['Ended because', call.end_reason],
      ['Talk time', call.talk_seconds != null ? call.talk_seconds.toFixed(1) + ' s' : null],
      ['Created', when(call.created_at)],
      ['Answered', when(call.answered_at)],
      ['Ended', when(call.ended_at)],
      ['Workflow', call.workflow_id],
      ['Error', call.error],
    ]);
    document.getElementById('summary').textContent = call.summary || '(none yet)';
    const list = document.getElementById('transcript');
    list.replaceChildren(...timeline(call).map(turnItem));
    if (list.children.length === 0) list.append(el('li', { class: 'event empty', text: 'Nothing said yet.' }));
    const fields = document.querySelector('#fields tbody');
    fields.replaceChildren(...Object.entries(call.form_fills || {}).map(([name, value]) =>
      el('tr', {}, el('th', { scope: 'row', text: name }), el('td', { text: typeof value === 'string' ? value : JSON.stringify(value) }))));
    if (fields.children.length === 0) fields.append(el('tr', {}, el('td', { class: 'muted', text: 'No fields collected.' })));
    const media = call.media || {};
    facts(document.getElementById('sip'), [
      ['SIP status', call.sip.status != null ? call.sip.status + (call.sip.reason ? ' ' + call.sip.reason : '') : null],
      ['Hung up by', call.sip.hangup_by],
      ['Trunk', call.trunk],
      ['Codec', media.codec],
      ['Packet loss', media.loss_pct != null ? media.loss_pct.toFixed(2) + ' %' : null],
      ['Jitter', media.jitter_ms != null ? media.jitter_ms.toFixed(1) + ' ms' : null],
      ['MOS (estimate)', media.mos],
      ['Packets received / sent', media.codec ? media.packets_received + ' / ' + media.packets_sent : null],
      ['Recording problem', media.recording_failed],
    ]);
  }

  async function loadRecording(id, call) {
    const player = document.getElementById('player');
    const none = document.getElementById('no-recording');
    if (!call.recording_url) {
      player.hidden = true;
      none.hidden = false;
      return;
    }
    const signed = await api('/console/api/calls/' + encodeURIComponent(id) + '/recording/url', { method: 'POST' });
    // Same origin as the page, whatever public_url says, so the page's policy lets it play.
    const url = new URL(signed.url);
    player.src = url.pathname + url.search;
    player.hidden = false;
    none.hidden = true;
  }

  /** The turn being heard is highlighted; clicking a turn plays from it. */
  function followPlayer() {
    const player = document.getElementById('player');
    const list = document.getElementById('transcript');
    player.addEventListener('timeupdate', () => {
      const ms = player.currentTime * 1000;
      for (const li of list.querySelectorAll('li.turn')) {
        const on = ms >= Number(li.dataset.startMs) && ms < Number(li.dataset.endMs);
        li.classList.toggle('current', on);
      }
    });
    list.addEventListener('click', (event) => {
      const li = event.target.closest('li.turn');
      if (!li || !player.src) return;
      player.currentTime = Number(li.dataset.startMs) / 1000;
      player.play().catch(() => {});
    });
  }

  async function loadDeliveries(id) {
    const body = document.querySelector('#deliveries tbody');
    const list = await api('/console/api/calls/' + encodeURIComponent(id) + '/webhooks');
    body.replaceChildren(...list.data.map((d) => {
      const button = el('button', { type: 'button', class: 'secondary', text: 'Redeliver' });
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          await api('/console/api/calls/' + encodeURIComponent(id) + '/webhooks/' + encodeURIComponent(d.delivery_id) + '/redeliver', { method: 'POST' });
          status('Queued for delivery again.');
          await loadDeliveries(id);
        } catch (err) {
          status(err.message, true);
          button.disabled = false;
        }
      });
      const answer = d.last_status != null ? 'HTTP ' + d.last_status : (d.last_error || '');
      return el('tr', { 'data-delivery-id': d.delivery_id },
        el('td', { text: d.event_type }), el('td', { text: d.url }), el('td', { text: d.status }),
        el('td', { text: String(d.attempts) }), el('td', { text: answer }), el('td', { text: when(d.created_at) }),
        el('td', {}, button));
    }));
    if (body.children.length === 0) body.append(el('tr', {}, el('td', { class: 'muted', colspan: 7, text: 'No callback for this call.' })));
  }

  /** A running call: its events as they happen (server-sent events) and a hang-up button. */
  function followLive(id, call) {
    const live = document.getElementById('live');
    const state = document.getElementById('live-state');
    live.hidden = false;
    state.textContent = call.lifecycle;
    const source = new EventSource('/console/api/calls/' + encodeURIComponent(id) + '/events');
    source.addEventListener('lifecycle', (event) => {
      state.textContent = JSON.parse(event.data).lifecycle;
    });
    source.addEventListener('transcript', (event) => {
      call.transcript.push(JSON.parse(event.data).turn);
      renderCall(call);
    });
    source.addEventListener('dtmf', (event) => {
      call.dtmf.push(JSON.parse(event.data).dtmf);
      renderCall(call);
    });
    source.addEventListener('call.finalized', (event) => {
      source.close();
      live.hidden = true;
      const done = JSON.parse(event.data);
      renderCall(done);
      loadRecording(id, done).catch((err) => status(err.message, true));
      loadDeliveries(id).catch((err) => status(err.message, true));
    });
    document.getElementById('hangup').addEventListener('click', async () => {
      try {
        await api('/console/api/calls/' + encodeURIComponent(id) + '/hangup', { method: 'POST' });
        status('Hanging up…');
      } catch (err) {
        status(err.message, true);
      }
    });
  }

  async function callPage() {
    const id = document.body.dataset.callId;
    followPlayer();
    try {
      const call = await api('/console/api/calls/' + encodeURIComponent(id));
      renderCall(call);
      if (call.lifecycle !== 'finalized') followLive(id, call);
      await Promise.all([loadRecording(id, call), loadDeliveries(id)]);
    } catch (err) {
      status(err.message, true);
    }
  }

  // ---- Workflows ----------------------------------------------------------------------------

  async function workflowsPage() {
    const box = document.getElementById('workflows');
    try {
      const list = await api('/console/api/workflows');
      box.replaceChildren(...list.data.map((w) => {
        const questions = el('ol', {}, ...w.questions.map((q) => el('li', { text: q })));
        const facts_ = el('dl', { class: 'facts' });
        facts(facts_, [['Goal', w.goal], ['Opening', w.opening], ['Closing', w.closing], ['Model', w.model], ['Created', when(w.created_at)]]);
        return el('section', { class: 'workflow', 'data-workflow-id': w.workflow_id },
          el('h2', {}, el('code', { text: w.workflow_id })),
          el('p', { class: 'prompt', text: w.prompt }),
          facts_,
          el('h3', { text: 'Questions' }),
          questions);
      }));
      status(list.data.length === 0 ? 'No workflows yet.' : '');
    } catch (err) {
      status(err.message, true);
    }
  }

  if (page === 'calls') callsPage();
  if (page === 'workflows') workflowsPage();
  if (page === 'call') callPage();
})();
