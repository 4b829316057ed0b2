// sr2fhir console: optional comfort only; every page and action works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // "select all" for the jobs table
  const all = document.querySelector("input[data-select-all]");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("input[name=ids]").forEach((box) => { box.checked = all.checked; });
    });
  }
  // pages marked data-refresh reload themselves while nobody is selecting or typing
  const seconds = Number(document.body.dataset.refresh || 0);
  if (seconds > 0) {
    setInterval(() => {
      const busy = document.querySelector("input[name=ids]:checked") ||
        (document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName));
      if (!busy && document.visibilityState === "visible") { window.location.reload(); }
    }, seconds * 1000);
  }
});
