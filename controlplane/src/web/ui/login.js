// The sign-in page: a refused token comes back as this page with status 401; say so.
const nav = performance.getEntriesByType("navigation")[0];
if (nav && nav.responseStatus === 401) {
  document.getElementById("login-error").hidden = false;
}
