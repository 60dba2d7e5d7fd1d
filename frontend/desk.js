// Shared-workstation helpers; src/drafts.rs, src/desk.rs and
// src/components/idle.rs document them.

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// Drafts.
const PREFIX = "gx.draft.";
const LIFETIME_MS = 12 * 3600 * 1000;
let unlocked = null;
const opened = new Map();
const generation = new Map(); // so a late seal never overwrites

const store = () => {
    try {
        return sessionStorage;
    } catch {
        return null;
    }
};
const drafts = (s) => Object.keys(s).filter((k) => k.startsWith(PREFIX));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (t) => (/^(?:[0-9a-f]{2})+$/.test(t) ? Uint8Array.from(t.match(/../g), (h) => parseInt(h, 16)) : null);
const aes = (iv, name, expiry) => ({
    name: "AES-GCM",
    iv,
    additionalData: new TextEncoder().encode(`${name}|${expiry}`),
});
const bump = (page) => {
    const n = (generation.get(page) || 0) + 1;
    generation.set(page, n);
    return n;
};

export async function unlock(id, keyHex) {
    const s = store();
    const raw = unhex(keyHex);
    if (!s || !raw || !window.crypto?.subtle) return;
    const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    const mine = `${PREFIX}${id}.`;
    opened.clear();
    for (const name of drafts(s)) {
        const [expiry, sealed] = (s.getItem(name) || "").split(".");
        const blob = unhex(sealed || "");
        const usable = blob && blob.length > 12 && Number(expiry) > Date.now();
        if (usable && !name.startsWith(mine) && name.slice(PREFIX.length).includes(".")) continue;
        let text = null;
        try {
            const plain = await crypto.subtle.decrypt(aes(blob.slice(0, 12), name, expiry), key, blob.slice(12));
            text = new TextDecoder("utf-8", { fatal: true }).decode(plain);
        } catch {}
        if (usable && text !== null) opened.set(name.slice(mine.length), text);
        else s.removeItem(name);
    }
    unlocked = { id, key };
}

export const load = (page) => opened.get(page);

export function save(page, text) {
    opened.set(page, text);
    const n = bump(page);
    if (!unlocked) return;
    const { id, key } = unlocked;
    const name = `${PREFIX}${id}.${page}`;
    const expiry = Date.now() + LIFETIME_MS;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    crypto.subtle.encrypt(aes(iv, name, expiry), key, new TextEncoder().encode(text)).then((sealed) => {
        if (generation.get(page) === n && unlocked?.id === id) {
            store()?.setItem(name, `${expiry}.${hex(iv)}${hex(new Uint8Array(sealed))}`);
        }
    }, () => {});
}

export function clear(page) {
    opened.delete(page);
    bump(page);
    if (unlocked) store()?.removeItem(`${PREFIX}${unlocked.id}.${page}`);
}

export function clearAll() {
    for (const page of opened.keys()) bump(page);
    opened.clear();
    const s = store();
    if (s) for (const name of drafts(s)) s.removeItem(name);
}

// Tabs.
let channel = null;

export function watch(heard) {
    try {
        channel = new BroadcastChannel("gx.session");
        channel.onmessage = (e) => {
            if (e.data === "alive") readLeft().catch(() => {});
            else if (typeof e.data === "string") heard(e.data);
        };
    } catch {}
    const seen = () => document.hidden || heard("focus");
    addEventListener("focus", seen);
    document.addEventListener("visibilitychange", seen);
}

export const announce = (what) => channel?.postMessage(what);

// The idle warning.
const WARN_SECS = 120;
let end = null;
let capped = false;
let texts = [];
let gone = null;
let timer = 0;
let live = null;
let box = null;
let asked = false;
let confirmed = false;
let ending = false;

export function heardLeft(idle, absolute) {
    end = performance.now() + idle * 1000;
    capped = absolute <= idle;
}

async function timeLeft(method, path) {
    const r = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRF": "1" },
    });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const left = await r.json();
    heardLeft(left.idle_seconds_left, left.absolute_seconds_left);
    return left.idle_seconds_left;
}
const readLeft = () => timeLeft("GET", "/api/session/remaining");

async function check() {
    try {
        while ((await readLeft()) === 0) await sleep(1000);
    } catch {
        gone?.();
    }
}

async function stay() {
    try {
        const left = await timeLeft("POST", "/api/session/keepalive");
        announce("alive");
        if (left > WARN_SECS) {
            close();
            document.getElementById("main")?.focus();
        }
    } catch {
        gone?.();
    }
}

function close() {
    if (box && !box.hidden) {
        box.hidden = true;
        live.textContent = "";
    }
}

function tick() {
    if (end === null || !box) return;
    const secs = Math.max(0, Math.ceil((end - performance.now()) / 1000));
    if (secs > WARN_SECS) {
        asked = confirmed = ending = false;
        return close();
    }
    if (!asked) {
        asked = true;
        check().then(() => (confirmed = true));
    }
    if (secs > 0) ending = false;
    else if (!ending) {
        ending = true;
        check();
    }
    if (!confirmed) return;
    const [lead, tail] = capped ? texts.slice(4, 6) : texts.slice(2, 4);
    box.querySelector("p").textContent = `${lead} ${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}. ${tail}`;
    if (box.hidden) {
        box.hidden = false;
        live.textContent = texts[6];
        box.querySelector("button").focus();
    }
}

export function startIdle(lines, onGone) {
    stopIdle();
    texts = lines.split("\n");
    gone = onGone;
    asked = confirmed = ending = false;
    live = document.createElement("div");
    live.className = "sr-only";
    live.setAttribute("aria-live", "assertive");
    live.dataset.test = "idle-announcement";
    box = document.createElement("div");
    box.className = "idle-backdrop";
    box.hidden = true;
    box.innerHTML =
        '<div class="idle-dialog" role="alertdialog" aria-modal="true" aria-labelledby="idle-title" ' +
        'aria-describedby="idle-text" data-test="idle-warning"><h2 id="idle-title"></h2>' +
        '<p id="idle-text" role="timer" data-test="idle-countdown"></p>' +
        '<button type="button" class="button primary" id="idle-stay" data-test="stay-signed-in"></button></div>';
    const button = box.querySelector("button");
    box.querySelector("h2").textContent = texts[0];
    button.textContent = texts[1];
    button.onclick = stay;
    box.onkeydown = (e) => {
        if (e.key === "Escape" || e.key === "Tab") {
            e.preventDefault();
            e.stopPropagation();
            button.focus();
        }
    };
    document.body.append(live, box);
    timer = setInterval(tick, 500);
}

export function stopIdle() {
    clearInterval(timer);
    live?.remove();
    box?.remove();
    live = box = null;
}
