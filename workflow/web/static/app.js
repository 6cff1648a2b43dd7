// Select-all on a page of cases, and "all matching the filter" across pages.
document.addEventListener("DOMContentLoaded", function () {
  var page = document.getElementById("select-page");
  if (page) {
    page.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (box) { box.checked = page.checked; });
    });
  }
  var all = document.getElementById("all-matching");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (box) { box.disabled = all.checked; });
    });
  }
});
