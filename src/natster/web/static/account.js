// Who am I, adding a browser (the local UI), this browser and signing in (the hub's
// web app), platform stats.
import { call, el, enc, hosted, show, state } from "./core.js";

export const signing = { active: null, boot: null }; // boot: app.js's, to start again once signed in
export function renderMe() {
  const key = el("code", { class: "key", id: "account-key" }, state.me.account);
  show(
    el("h1", {}, "Who am I"),
    el("p", {}, "Name: ", el("strong", {}, state.me.name)),
    el(
      "p",
      {},
      "Account: ",
      key,
      " ",
      el(
        "button",
        {
          type: "button",
          class: "plain",
          onclick: async (event) => {
            try {
              await navigator.clipboard.writeText(state.me.account);
              event.target.textContent = "Copied";
            } catch {
              getSelection().selectAllChildren(key);
              event.target.textContent = "Selected: copy it";
            }
          },
        },
        "Copy",
      ),
    ),
    el("p", { class: "muted" }, "Give this key to a friend so they can share catalogs with you."),
    el("p", {}, "Hub: ", el("code", {}, state.me.hub)),
    hosted ? thisBrowser() : addBrowser(),
  );
}

function thisBrowser() {
  const until = state.me.expires_at ? new Date(state.me.expires_at * 1000).toLocaleString() : "revoked";
  return el(
    "section",
    { "aria-label": "This browser" },
    el("h2", {}, "This browser"),
    el(
      "p",
      {},
      "Device: ",
      el("strong", { id: "device-name" }, state.me.device || "–"),
      " · ",
      el("span", { id: "device-rights" }, state.me.rights),
      " · signed in until ",
      until,
    ),
    el(
      "button",
      {
        type: "button",
        onclick: async () => {
          await call("POST", "/api/signout").catch(() => {});
          signIn("You signed this browser out.");
        },
      },
      "Sign out",
    ),
  );
}

function addBrowser() {
  const input = el("input", {
    type: "text",
    placeholder: "ABCD-EFGH",
    "aria-label": "Sign-in code",
    autocomplete: "off",
  });
  const full = el("input", { type: "checkbox", "aria-label": "Full rights" });
  const result = el("p", { role: "status" });
  return el(
    "section",
    { "aria-label": "Add this browser" },
    el("h2", {}, "Add a browser"),
    el(
      "p",
      { class: "muted" },
      "A browser on your hub's web app shows a code: enter it to sign that browser in to this account (read-only and for 24 hours unless you choose otherwise).",
    ),
    el(
      "form",
      {
        class: "inline",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const device = await call("POST", "/api/browsers", {
              code: input.value.trim(),
              full: full.checked,
            });
            result.textContent = `Signed in ${device.name} (${device.rights}). natster device revoke ${device.name} signs it out.`;
            input.value = "";
          } catch (error) {
            result.textContent = error.message;
          }
        },
      },
      input,
      el("label", {}, full, " full rights"),
      el("button", { type: "submit" }, "Add this browser"),
    ),
    result,
  );
}

export function signIn(reason) {
  if (signing.active) return;
  signing.active = {};
  document.body.classList.add("signed-out");
  const area = el("div", { class: "signin" }, el("p", { class: "muted" }, "Making a sign-in code…"));
  show(
    el("h1", {}, "Sign in"),
    reason ? el("p", { class: "notice", id: "signin-reason" }, reason) : null,
    area,
  );
  const begin = async () => {
    try {
      const offered = await call("POST", "/api/signin/start");
      const until = Date.now() + offered.expires_in * 1000;
      const left = el("span", {});
      area.replaceChildren(
        el("p", {}, "On a machine signed in to your account, run:"),
        el(
          "pre",
          { class: "command" },
          "natster login ",
          el("strong", { id: "signin-code", class: "code" }, offered.code),
        ),
        el(
          "p",
          { class: "muted" },
          "or enter the code in your own natster web under “Who am I” → Add this browser.",
        ),
        el("img", {
          class: "qr",
          src: `/signin/qr.svg?code=${enc(offered.code)}`,
          alt: `QR code of ${offered.code}`,
        }),
        el(
          "p",
          { class: "muted" },
          "This browser gets its own key: your account's key never leaves your machine. The code works once, ",
          left,
          ".",
        ),
      );
      const tick = () => {
        left.textContent = `for ${Math.max(0, Math.round((until - Date.now()) / 1000))} more seconds`;
      };
      tick();
      signing.active.timer = setInterval(tick, 1000);
      while (signing.active) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const answer = await call("POST", "/api/signin/wait");
        if (answer.state === "granted") {
          clearInterval(signing.active.timer);
          signing.active = null;
          document.body.classList.remove("signed-out");
          await signing.boot();
          return;
        }
      }
    } catch (error) {
      if (signing.active) clearInterval(signing.active.timer);
      area.replaceChildren(
        el("p", { class: "notice" }, error.message),
        el(
          "button",
          {
            type: "button",
            onclick: () => {
              area.replaceChildren(el("p", { class: "muted" }, "Making a sign-in code…"));
              signing.active = {};
              begin();
            },
          },
          "New code",
        ),
      );
    }
  };
  begin();
}

export async function renderStats() {
  const route = state.route;
  const stats = await call("GET", "/api/stats");
  if (route !== state.route) return;
  show(
    el("h1", {}, "Platform stats"),
    el(
      "dl",
      { class: "stats" },
      el("dt", {}, "Accounts"),
      el("dd", {}, `${stats.accounts} (people; the hub's own account is not counted)`),
      el("dt", {}, "Catalogs online"),
      el("dd", {}, stats.catalogs_online),
      el("dt", {}, "Shares"),
      el("dd", {}, stats.shares),
    ),
  );
}
