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

// Upload progress for large household files.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("import-form");
  var bar = document.getElementById("upload-progress");
  if (!form || !bar || !window.XMLHttpRequest) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    bar.hidden = false;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(e.loaded * 100 / e.total); }
    });
    request.addEventListener("load", function () {
      document.open(); document.write(request.responseText); document.close();
    });
    request.open("POST", form.action || window.location.href);
    request.send(new FormData(form));
  });
});
