// The console's only script. Served from 'self' so the pages' CSP needs no 'unsafe-inline'.
"use strict";

// A rollout page refreshes its live region in place while the rollout is in flight: fetch the
// fragment, swap it only if it changed (no flicker, no full reload), stop once it is finished.
function startLiveRefresh(region) {
  const status = document.querySelector("[data-live-status]");
  const interval = Number(region.dataset.liveInterval || 3000);
  // Both sides are compared as the browser serialises them, without what differs on every
  // render (the masked CSRF token) or only in this browser (which <details> are open).
  const comparable = (html) =>
    html
      .replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "")
      .replace(/ open=""/g, "")
      .trim();
  const active = () => {
    const root = region.querySelector("[data-active]");
    return root !== null && root.dataset.active === "true";
  };
  async function refresh() {
    if (!document.hidden) {
      try {
        const response = await fetch(region.dataset.liveUrl, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "text/html" },
        });
        if (response.ok) {
          const fresh = document.createElement("template");
          fresh.innerHTML = await response.text();
          if (comparable(fresh.innerHTML) !== comparable(region.innerHTML)) {
            // Keep what the reader opened (evidence, output, history) open across the swap.
            const open = Array.from(region.querySelectorAll("details[open][data-key]"),
              (d) => d.dataset.key);
            region.replaceChildren(fresh.content);
            region.querySelectorAll("details[data-key]").forEach((d) => {
              if (open.includes(d.dataset.key)) d.open = true;
            });
          }
          if (status) {
            status.textContent = active()
              // UTC, as every other time on the console (HH:MM:SS).
              ? `Live: updated ${new Date().toISOString().slice(11, 19)} UTC`
              : "Finished: no longer refreshing.";
          }
        } else if (status) {
          status.textContent = `Refresh failed (HTTP ${response.status}); retrying.`;
        }
      } catch (error) {
        if (status) status.textContent = "Refresh failed (network); retrying.";
      }
    }
    if (active()) window.setTimeout(refresh, interval);
  }
  if (active()) window.setTimeout(refresh, interval);
}

// Choosing a window on the SLO dashboard shows it at once; the Show button stays for no-JS.
function autoSubmit(input) {
  input.addEventListener("change", () => input.form && input.form.requestSubmit());
}

document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-live-url]");
  if (region) startLiveRefresh(region);
  document.querySelectorAll("[data-autosubmit]").forEach(autoSubmit);
});
