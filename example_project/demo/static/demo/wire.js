// wire.js: the wire panel on every page of the demo: each frame the page's client receives,
// newest first (the last LIMIT), with its type, its data, its size and its latency.
//
// The client hands its handlers a frame's type and data, not the text it came in, so the size is
// that of {type, data} encoded again (≈: without a push's stream position). The latency is now
// minus the payload's "sent_at", the server's time.time() as it pushed (demo/wire.py); the
// browser and the server of the demo run on the same machine, so their clocks agree. Frames
// without a sent_at (presence, RECOVERY) show "—"; PING frames are answered inside the client
// and never reach a handler.

const LIMIT = 50;
// livepush.js hands a PRESENCE_DIFF frame to its own handlers, then to every handler once per
// user as these two: not frames of their own, so the panel shows the PRESENCE_DIFF instead.
const DERIVED = new Set(["USER_PRESENCE_CONNECTED", "USER_PRESENCE_DISCONNECTED"]);
const OPEN_KEY = "livepush-demo-wire-open";
const encoder = new TextEncoder();

export function wirePanel(client, panel) {
  const rows = panel.querySelector("tbody");
  const count = panel.querySelector(".count");
  let total = 0;

  // Open unless closed before (on any page of the demo).
  panel.open = localStorage.getItem(OPEN_KEY) !== "0";
  panel.addEventListener("toggle", () => localStorage.setItem(OPEN_KEY, panel.open ? "1" : "0"));

  function show(type, data) {
    const now = Date.now();
    const text = JSON.stringify(data === undefined ? { type } : { type, data });
    const sentAt = data?.sent_at;
    const row = rows.insertRow(0);
    row.dataset.type = type;
    row.title = text.length > 400 ? `${text.slice(0, 400)}…` : text;
    const cells = {
      received: clock(now),
      type,
      data: data === undefined ? "" : JSON.stringify(data),
      bytes: encoder.encode(text).length,
      latency: typeof sentAt === "number" ? ms(now - sentAt * 1000) : "—",
    };
    for (const [name, value] of Object.entries(cells)) {
      const cell = row.insertCell();
      cell.className = name;
      cell.textContent = value;
    }
    row.classList.add("changed");
    while (rows.rows.length > LIMIT) rows.deleteRow(-1);
    total += 1;
    count.textContent = `${total} frame${total === 1 ? "" : "s"}${total > LIMIT ? `, the last ${LIMIT} shown` : ""}`;
  }

  client.bindAll((data, type) => {
    if (!DERIVED.has(type)) show(type, data);
  });
  client.bind("PRESENCE_DIFF", (data) => show("PRESENCE_DIFF", data));
}

function clock(time) {
  const date = new Date(time);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function ms(value) {
  if (value >= 1000) return `${(value / 1000).toFixed(1)} s`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}
