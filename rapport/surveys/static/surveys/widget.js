/* Rapport survey widget: <script src=".../s/widget.js" data-rapport-survey="SURVEY URL"
   data-label="Feedback" data-lang="en|zh-hant|zh-hans" async></script>
   Adds one button; it opens the survey in a popup window (a new tab where popups are not
   possible). No cookies, no tracking, nothing else on the page is touched. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll("script[data-rapport-survey]");
    script = all[all.length - 1];
  }
  if (!script) return;
  var url = script.getAttribute("data-rapport-survey");
  if (!url || !/^https?:\/\//.test(url)) return;
  var lang = script.getAttribute("data-lang") || (document.documentElement.lang || "").toLowerCase();
  var defaults = { "zh-hant": "意見回饋", "zh-tw": "意見回饋", "zh-hk": "意見回饋", "zh-hans": "意见反馈", "zh-cn": "意见反馈" };
  var label = script.getAttribute("data-label") || defaults[lang] || "Feedback";
  if (lang) url += (url.indexOf("?") < 0 ? "?" : "&") + "lang=" + encodeURIComponent(lang);

  function open() {
    var w = 420, h = 640;
    var left = Math.max(0, (window.screenX || 0) + (window.outerWidth - w) / 2);
    var top = Math.max(0, (window.screenY || 0) + (window.outerHeight - h) / 2);
    var popup = window.open(url, "rapport-survey", "width=" + w + ",height=" + h + ",left=" + left + ",top=" + top + ",noopener=no");
    if (!popup) window.location.href = url;  // popups blocked: go there
    else popup.focus();
  }

  function mount() {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-haspopup", "dialog");
    button.setAttribute("data-rapport-widget", "");
    var s = button.style;
    s.position = "fixed"; s.right = "16px"; s.bottom = "16px"; s.zIndex = "2147483000";
    s.padding = "10px 16px"; s.border = "0"; s.borderRadius = "20px"; s.cursor = "pointer";
    s.background = "#1f5fbf"; s.color = "#fff"; s.font = "600 15px system-ui, sans-serif";
    s.boxShadow = "0 2px 8px rgba(0,0,0,.25)";
    button.addEventListener("click", open);
    document.body.appendChild(button);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
