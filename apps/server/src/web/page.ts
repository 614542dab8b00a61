/** The web terminal page: log in with the token, list sessions, open a terminal. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>axo</title>
<link rel="stylesheet" href="/assets/xterm.css">
<style>
  :root { color-scheme: dark; font-family: system-ui, sans-serif; }
  [hidden] { display: none !important; }
  body { margin: 0; background: #111; color: #ddd; display: flex; flex-direction: column; height: 100vh; }
  header { padding: .5rem 1rem; background: #1b1b1b; display: flex; gap: 1rem; align-items: center; }
  header h1 { font-size: 1rem; margin: 0; }
  main { flex: 1; display: flex; min-height: 0; }
  #sessions { width: 18rem; overflow: auto; border-right: 1px solid #333; padding: .5rem; }
  #sessions li { list-style: none; margin: .25rem 0; }
  #sessions button { width: 100%; text-align: left; }
  #terminal { flex: 1; padding: .25rem; min-width: 0; }
  #login { margin: auto; display: flex; gap: .5rem; }
  .muted { color: #888; font-size: .85rem; }
  #status { margin-left: auto; }
</style>
</head>
<body>
<header><h1>axo</h1><span id="status" class="muted"></span></header>
<form id="login">
  <input id="token" type="password" placeholder="access token" autocomplete="current-password" size="40" required>
  <button type="submit">Log in</button>
</form>
<main id="app" hidden>
  <ul id="sessions"></ul>
  <div id="terminal"></div>
</main>
<script src="/assets/xterm.js"></script>
<script src="/assets/addon-fit.js"></script>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem('axo-token');
  let socket, term, fit;
  const status = (text) => { $('status').textContent = text; };
  const api = async (method, path, body) => {
    const res = await fetch(path, {
      method,
      headers: { authorization: 'Bearer ' + token, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401) { sessionStorage.removeItem('axo-token'); location.reload(); }
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error(data.detail || res.statusText);
    return data;
  };
  async function showSessions() {
    const { sessions } = await api('GET', '/v1/sessions');
    const list = $('sessions');
    list.replaceChildren();
    if (sessions.length === 0) list.innerHTML = '<li class="muted">no sessions</li>';
    for (const s of sessions) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.textContent = s.id;
      b.title = s.workdir;
      b.dataset.session = s.id;
      b.onclick = () => openTerminal(s.id).catch((e) => status(e.message));
      li.append(b);
      list.append(li);
    }
  }
  async function openTerminal(id) {
    if (socket) socket.close();
    if (term) term.dispose();
    term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14 });
    fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open($('terminal'));
    fit.fit();
    const created = await api('POST', '/v1/sessions/' + id + '/terminals', { cols: term.cols, rows: term.rows });
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/v1/sessions/' + id + '/terminals/' + created.id + '/attach';
    socket = new WebSocket(url, ['axo.v1', 'axo.token.' + token]);
    socket.onopen = () => { status('connected to ' + id); term.focus(); };
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'output') term.write(m.data);
      else if (m.type === 'exit') status('terminal exited with ' + m.exitCode);
    };
    socket.onclose = () => status('disconnected');
    term.onData((data) => socket.readyState === 1 && socket.send(JSON.stringify({ type: 'input', data })));
    term.onResize(({ cols, rows }) => socket.readyState === 1 && socket.send(JSON.stringify({ type: 'resize', cols, rows })));
  }
  window.addEventListener('resize', () => fit && fit.fit());
  async function start() {
    $('login').hidden = true;
    $('app').hidden = false;
    await showSessions();
  }
  $('login').onsubmit = (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('axo-token', token);
    start().catch((err) => status(err.message));
  };
  if (token) start().catch((err) => status(err.message));
})();
</script>
</body>
</html>
`;
