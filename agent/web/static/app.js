// mlops-agent's page: live threads over server-sent events, forms sent without a reload.
// Plain script, no build step, nothing loaded from anywhere else.
"use strict";
(function () {
  window.mlopsPage = { loadedAt: Date.now() };  // a reload would reset it (the tests look)

  const list = document.getElementById("thread-list");
  const body = document.getElementById("thread-body");
  const timers = {};

  function soon(name, work) {
    // Changes come in bursts (a post, then the turn closing): one redraw per burst.
    clearTimeout(timers[name]);
    timers[name] = setTimeout(work, 25);
  }

  // What the server sent for each node on the page: a redraw leaves a node that the server
  // sends again unchanged where it is, so a click, an open event group or a note survives.
  const served = new WeakMap();

  function remember(parent) {
    for (const node of parent.children) {
      served.set(node, node.outerHTML);
      if (node.hasAttribute("data-morph")) remember(node);
    }
  }

  function morph(into, wanted) {
    wanted.forEach((want, i) => {
      const have = into.children[i];
      const source = want.outerHTML;
      if (have && served.get(have) === source) return;
      if (have && have.tagName === want.tagName && have.hasAttribute("data-morph") && want.hasAttribute("data-morph")) {
        morph(have, Array.from(want.children));
        served.set(have, source);
        return;
      }
      served.set(want, source);
      if (want.hasAttribute("data-morph")) remember(want);
      if (have) have.replaceWith(want); else into.append(want);
    });
    while (into.children.length > wanted.length) into.lastElementChild.remove();
  }

  async function redraw(el) {
    const res = await fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (res.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      return;
    }
    if (!res.ok) return;
    const fresh = document.createElement("div");
    fresh.innerHTML = await res.text();
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
    morph(el, Array.from(fresh.children));
    if (atBottom) el.scrollTop = el.scrollHeight;
  }

  for (const el of [list, body]) if (el) remember(el);

  if (list || body) {
    const events = new EventSource("/events");
    // (Re)connected: redraw once, for whatever changed while no stream was open.
    events.onopen = () => {
      if (list) soon("list", () => redraw(list));
      if (body) soon("body", () => redraw(body));
    };
    events.onmessage = (ev) => {
      const change = JSON.parse(ev.data);
      if (list) soon("list", () => redraw(list));
      if (body && change.conversation === body.dataset.conversation) soon("body", () => redraw(body));
    };
  }
  if (body) body.scrollTop = body.scrollHeight;

  function say(form, answer) {
    const note = form.querySelector(".form-note");
    if (!note) return;
    note.textContent = answer.ok ? "" : answer.message;
    if (answer.ok && form.classList.contains("decide")) note.textContent = answer.message;
    note.className = "form-note " + (answer.ok ? "good" : "bad");
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-live")) return;
    ev.preventDefault();
    const data = new FormData(form, ev.submitter);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      // getAttribute: `form.action` would be the form's field named "action" (the buttons).
      const res = await fetch(form.getAttribute("action"), {
        method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" },
      });
      const answer = await res.json().catch(() => ({ ok: false, message: `${res.status} ${res.statusText}` }));
      say(form, answer);
      if (answer.ok) {
        const box = form.querySelector("textarea");
        if (box) box.value = "";
        if (form.dataset.live === "go" && answer.url) location.href = answer.url;
      }
    } catch (err) {
      say(form, { ok: false, message: "Not sent: the service did not answer." });
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  // Enter sends, Shift+Enter starts a new line.
  document.addEventListener("keydown", (ev) => {
    const box = ev.target;
    if (ev.key !== "Enter" || ev.shiftKey || ev.isComposing) return;
    if (!(box instanceof HTMLTextAreaElement) || !box.form || !box.form.hasAttribute("data-live")) return;
    ev.preventDefault();
    box.form.requestSubmit();
  });

  // A one-time sign-in link: continue at once (the button stays for a page without script).
  const auto = document.querySelector("form[data-autosubmit]");
  if (auto) auto.requestSubmit();
})();
