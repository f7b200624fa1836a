// Shared by every page: show this server's own address in the curl examples.
"use strict";
for (const el of document.querySelectorAll("[data-origin]")) {
  el.textContent = window.location.origin;
}
