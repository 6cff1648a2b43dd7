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

// The survey form says, as it is filled, whether the household meets the criteria.
document.addEventListener("DOMContentLoaded", function () {
  var income = document.getElementById("income");
  var result = document.getElementById("criteria-result");
  if (!income || !result) { return; }
  var form = income.form;
  function judge() {
    var line = parseFloat(income.dataset.povertyLine);
    var value = parseFloat(income.value);
    var boxes = form.querySelectorAll("input[type=checkbox][name^=ind_]");
    var missing = [];
    boxes.forEach(function (box) { if (!box.checked) { missing.push(box.parentNode.textContent.trim()); } });
    if (isNaN(value)) { result.textContent = ""; return; }
    var incomeOk = isNaN(line) || value > line;
    result.textContent = (incomeOk && missing.length === 0) ? "按规则集判定:达到退出标准"
      : "按规则集判定:未达到(" + (incomeOk ? "" : "收入未超过" + line + "元 ") + missing.join("、") + ")";
  }
  form.addEventListener("input", judge);
  form.addEventListener("change", judge);
  judge();
});
