// Pages that wait for a car's data (a fetch under way) ask their small JSON endpoint every two seconds and put each
// part that landed in place, without reloading: the reading position and the keyboard focus stay where they were, and
// the page's aria-live status line says what changed. Without JavaScript, the page's "Check again" link does the same
// by hand.
(() => {
  "use strict";

  const EVERY_MS = 2000;
  // The server stops calling a fetch pending after two minutes; this is only a backstop.
  const GIVE_UP_MS = 3 * 60 * 1000;
  const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

  function pendingIn(container) {
    return container.matches("[data-pending]") ? 1 : container.querySelectorAll("[data-pending]").length;
  }

  // Replaces a part's content; if the focus was inside it, it goes to the same control in the new content.
  function replace(part, html) {
    const controls = Array.from(part.querySelectorAll(FOCUSABLE));
    const focused = controls.indexOf(document.activeElement);
    part.innerHTML = html;
    part.removeAttribute("data-pending");
    if (focused >= 0) {
      const again = part.querySelectorAll(FOCUSABLE)[focused];
      if (again) {
        again.focus();
      } else {
        part.setAttribute("tabindex", "-1");
        part.focus();
      }
    }
  }

  function watch(container) {
    const status = document.querySelector("[data-live-status]");
    const started = Date.now();

    async function poll() {
      let answer;
      try {
        const response = await fetch(container.dataset.liveUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok) {
          throw new Error(`answered ${response.status}`);
        }
        answer = await response.json();
      } catch (error) {
        // A dropped connection or a restarting server: ask again at the next turn.
        window.setTimeout(poll, EVERY_MS);
        return;
      }
      const before = pendingIn(container);
      for (const [id, part] of Object.entries(answer.parts)) {
        const element = document.getElementById(id);
        if (element && element.hasAttribute("data-pending") && !part.pending) {
          replace(element, part.html);
        }
      }
      const after = pendingIn(container);
      if (status && after < before) {
        status.textContent = answer.message;
      }
      if (after && Date.now() - started < GIVE_UP_MS) {
        window.setTimeout(poll, EVERY_MS);
      } else if (after && status) {
        status.textContent = "No answer yet. Reload the page to ask again.";
      }
    }

    window.setTimeout(poll, EVERY_MS);
  }

  document.querySelectorAll("[data-live-url]").forEach((container) => {
    if (pendingIn(container)) {
      watch(container);
    }
  });
})();
