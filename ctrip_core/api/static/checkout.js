/* cTrip hosted checkout: live status (server-sent events, polling fallback), countdown, copy
 * button, and "Pay with browser wallet" (EIP-1193). The page is complete without this script. */
(function () {
  "use strict";

  var root = document.getElementById("checkout");
  if (!root) return;
  document.documentElement.classList.remove("no-js");
  document.documentElement.classList.add("js");

  var FINAL = ["confirmed", "underpaid", "expired", "canceled"];
  var TRANSFER_SELECTOR = "0xa9059cbb"; // transfer(address,uint256)
  var data = root.dataset;
  var state = {
    status: data.status,
    expiresAt: Date.parse(data.expiresAt),
    skewMs: Date.parse(data.serverTime) - Date.now(),
    amountDueBase: data.amountDueBase,
    paymentUri: byId("open-wallet") ? byId("open-wallet").getAttribute("href") : null,
    redirectUrl: data.redirectUrl || null,
    redirecting: false
  };

  function byId(id) { return document.getElementById(id); }
  function isFinal(status) { return FINAL.indexOf(status) !== -1; }
  function setField(name, value) {
    var nodes = document.querySelectorAll('[data-field="' + name + '"]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = value;
  }

  // --- countdown ------------------------------------------------------------------------------
  function formatSeconds(total) {
    total = Math.max(0, Math.floor(total));
    var days = Math.floor(total / 86400), hours = Math.floor(total % 86400 / 3600);
    var minutes = Math.floor(total % 3600 / 60), seconds = total % 60;
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + (minutes < 10 ? "0" : "") + minutes + " min";
    return minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
  }

  var timeLeft = byId("time-left"), rateLock = byId("rate-lock");  // a priced payment's rate: locked as long
  function tick() {
    if (!timeLeft || isFinal(state.status)) return;
    var left = (state.expiresAt - (Date.now() + state.skewMs)) / 1000;
    timeLeft.textContent = left > 0 ? formatSeconds(left) : "expiring…";
    if (rateLock) rateLock.textContent = timeLeft.textContent;
  }
  if (!isNaN(state.expiresAt)) { tick(); setInterval(tick, 1000); }

  // --- status ---------------------------------------------------------------------------------
  function render(s) {
    state.status = s.status;
    state.amountDueBase = s.amount_due_base_units;
    state.expiresAt = Date.parse(s.expires_at);
    state.skewMs = Date.parse(s.server_time) - Date.now();
    root.dataset.status = s.status;
    var section = byId("status");
    section.dataset.status = s.status;
    var blocks = section.querySelectorAll("[data-state]");
    for (var i = 0; i < blocks.length; i++) {
      var active = blocks[i].getAttribute("data-state") === (s.stage || s.status);
      blocks[i].hidden = !active;
      if (active) byId("status-label").textContent = blocks[i].getAttribute("data-label");
    }
    setField("amount_received", s.amount_received);
    setField("amount_due", s.amount_due);
    setField("confirmations", String(s.confirmations));
    if (s.payment_uri && s.payment_uri !== state.paymentUri) {  // after a partial payment: ask for the rest
      state.paymentUri = s.payment_uri;
      var link = byId("open-wallet"), qr = byId("qr");  // an open payment has neither: its options do
      if (link) link.href = s.payment_uri;
      var old = qr && qr.querySelector("svg");
      var svg = new DOMParser().parseFromString(s.qr_svg, "image/svg+xml").documentElement;
      if (old && svg && svg.nodeName.toLowerCase() === "svg") qr.replaceChild(document.importNode(svg, true), old);
    }
    var bar = byId("confirmations");
    if (bar && typeof s.confirmations_required === "number") {
      bar.max = s.confirmations_required;
      bar.value = s.confirmations;
    }
    var final = isFinal(s.status), paidInFull = s.amount_due_base_units === "0";
    byId("due-line").hidden = s.amount_received === "0" || paidInFull;
    byId("pay-to").hidden = final || paidInFull;  // nothing left to send: no address to send it to
    byId("expiry-row").hidden = final || paidInFull;
    renderOptions(s.options, final || paidInFull);
    if (final) setWalletButton(false);
    if (s.status === "confirmed" && s.redirect_url) redirectSoon(s.redirect_url);
    tick();
  }

  // An open payment's options: what is still due in each, its link and QR code, or none at all.
  function renderOptions(options, done) {
    var section = byId("pay-options");
    if (!section) return;
    section.hidden = done;
    if (!options) return;
    var items = section.querySelectorAll(".option");
    for (var i = 0; i < items.length && i < options.length; i++) {
      items[i].querySelector(".option-amount").textContent = options[i].amount_due;
      items[i].querySelector(".option-link").href = options[i].payment_uri;
      var figure = items[i].querySelector(".option-qr"), old = figure.querySelector("svg");
      var svg = new DOMParser().parseFromString(options[i].qr_svg, "image/svg+xml").documentElement;
      if (old && svg && svg.nodeName.toLowerCase() === "svg") figure.replaceChild(document.importNode(svg, true), old);
    }
  }

  function redirectSoon(url) {
    if (state.redirecting || !/^https?:\/\//i.test(url)) return;
    state.redirecting = true;
    var link = byId("redirect-link"), note = byId("redirect-note"), count = byId("redirect-count");
    link.href = url;
    byId("redirect").hidden = false;
    var left = parseInt(data.redirectDelay, 10);
    if (isNaN(left) || left < 0) left = 3;
    note.hidden = false;
    count.textContent = String(left);
    var timer = setInterval(function () {
      left -= 1;
      count.textContent = String(Math.max(left, 0));
      if (left <= 0) {
        clearInterval(timer);
        window.location.assign(url);
      }
    }, 1000);
  }

  // The server's pace (api.checkout_client_poll_s); a failed request waits a little longer.
  var pollMs = parseInt(data.pollMs, 10);
  if (isNaN(pollMs) || pollMs <= 0) pollMs = 3000;

  function poll() {
    fetch(data.statusUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (s) {
        if (s) render(s);
        if (!s || !s.final) setTimeout(poll, pollMs);
      })
      .catch(function () { setTimeout(poll, pollMs + 2000); });
  }

  function listen() {
    if (isFinal(state.status)) {
      if (state.status === "confirmed" && state.redirectUrl) redirectSoon(state.redirectUrl);
      return;
    }
    if (!window.EventSource) { poll(); return; }
    var source = new EventSource(data.eventsUrl);
    var failures = 0;
    source.addEventListener("status", function (event) {
      failures = 0;
      var s = JSON.parse(event.data);
      render(s);
      if (s.final) source.close();
    });
    source.onerror = function () {
      // A stream ending at its lifetime bound reconnects by itself; repeated failures mean no SSE here.
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures > 3) {
        source.close();
        poll();
      }
    };
  }

  // --- copy -----------------------------------------------------------------------------------
  // The address, and the amount still due (what the QR code and wallet link ask for).
  copyButton(byId("copy-address"), function () { return byId("address"); });
  copyButton(byId("copy-amount"), function () {
    var due = document.querySelector('[data-field="amount_due"]');
    return due && due.textContent ? due : byId("amount");
  });
  function copyButton(button, source) {
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var node = source();
      var text = node.textContent.replace(/\s+/g, "");
      var label = button.getAttribute("aria-label");  // kept holding the visible text, as the label must
      var done = function () {
        button.textContent = "Copied";
        if (label) button.setAttribute("aria-label", label.replace(/^Copy/, "Copied"));
        setTimeout(function () {
          button.textContent = "Copy";
          if (label) button.setAttribute("aria-label", label);
        }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(node); });
      } else {
        select(node);
        try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
      }
    });
  }
  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // --- browser wallet (EIP-1193) --------------------------------------------------------------
  var walletButton = byId("wallet-pay");
  var walletMessage = byId("wallet-message");
  var provider = window.ethereum;

  function setWalletButton(visible) {
    if (walletButton) walletButton.hidden = !visible;
  }
  function say(text, isError) {
    walletMessage.hidden = false;
    walletMessage.textContent = text;
    walletMessage.classList.toggle("error", !!isError);
  }
  function hex(value) { return "0x" + BigInt(value).toString(16); }
  function word(hexDigits) { return ("0".repeat(64) + hexDigits).slice(-64); }
  function transferCalldata(to, amount) {
    return TRANSFER_SELECTOR + word(to.toLowerCase().replace(/^0x/, "")) + word(BigInt(amount).toString(16));
  }
  function explain(error) {
    var code = error && error.code;
    if (code === 4001) return "You declined the request in your wallet.";
    if (code === 4902) return "Your wallet does not know chain id " + data.chainId + ". Add that network to your wallet, then try again.";
    return "The wallet answered: " + ((error && error.message) || String(error));
  }

  async function payWithWallet() {
    walletButton.disabled = true;
    say("Confirm in your wallet…");
    try {
      var accounts = await provider.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("no account available");
      var from = accounts[0];
      var wanted = hex(data.chainId);
      var current = null;
      try { current = await provider.request({ method: "eth_chainId" }); } catch (e) { current = null; }
      if (!current || BigInt(current) !== BigInt(wanted)) {
        say("Switch your wallet to chain id " + data.chainId + "…");
        await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: wanted }] });
      }
      var amount = BigInt(state.amountDueBase);
      if (amount <= BigInt(0)) throw new Error("nothing is due");
      var tx = data.token
        ? { from: from, to: data.token, value: "0x0", data: transferCalldata(data.address, amount) }
        : { from: from, to: data.address, value: hex(amount) };
      say("Confirm the payment in your wallet…");
      var hash = await provider.request({ method: "eth_sendTransaction", params: [tx] });
      say("Transaction sent (" + hash + "). This page updates when it is on chain.");
    } catch (error) {
      say(explain(error), true);
      walletButton.disabled = false;
    }
  }

  // An open payment (payable in several assets) is paid from its options' links, not this button.
  if (walletButton && provider && typeof provider.request === "function" && typeof BigInt === "function"
      && !isFinal(state.status) && data.wallet !== "off") {
    setWalletButton(true);
    walletButton.addEventListener("click", payWithWallet);
  }

  listen();
})();
