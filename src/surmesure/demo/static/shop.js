/* The demo storefront's behaviour: page events, cart, checkout, login, consent banner.
   Everything it knows about the visitor lives in this browser (localStorage). */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('page-data').textContent);
  var s = window.surmesure.init({ writeKey: data.writeKey, host: location.origin });
  var CART = 'shop.cart';
  var USER = 'shop.user';

  function $(sel) { return document.querySelector(sel); }
  function $all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function load(key, fallback) {
    try { return JSON.parse(localStorage.getItem(key)) || fallback; } catch (e) { return fallback; }
  }
  function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
  function money(v) { return '€' + Number(v).toFixed(2); }
  function toast(text) {
    var t = $('[data-toast]');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 2200);
  }

  // The same user id as surmesure.demo.generator.user_id_for_email: two FNV-1a hashes.
  function fnv(bytes, h) {
    for (var i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193) >>> 0; }
    return ('0000000' + (h >>> 0).toString(16)).slice(-8);
  }
  function userIdForEmail(email) {
    var bytes = new TextEncoder().encode(email.trim().toLowerCase());
    return 'u-' + fnv(bytes, 0x811c9dc5) + fnv(bytes, 0x050c5d1f);
  }

  // -- events of this page -------------------------------------------------------------
  s.page(data.page.name, data.page.properties);
  (data.page.track || []).forEach(function (t) { s.track(t.event, t.properties); });
  // the server decides placements for this anonymousId: keep it in a cookie it can read
  document.cookie = 'surmesure.anonymousId=' + encodeURIComponent(s.user().anonymousId) +
    '; path=/; max-age=31536000; SameSite=Lax';

  // -- a placement decided by the server: its impression, then its click, by decision_id -----
  var placement = data.page.placement;
  if (placement) {
    s.track('Placement Viewed', placement);
    $all('[data-placement-click]').forEach(function (link) {
      link.addEventListener('click', function (ev) {
        ev.preventDefault();
        s.track('Placement Clicked', placement);
        var go = function () { location.href = link.href; };
        Promise.resolve(s.flush()).then(go, go);
      });
    });
  }

  // -- header: who, cart count, profile links --------------------------------------------
  function refreshHeader() {
    var cart = load(CART, []);
    var count = cart.reduce(function (n, l) { return n + l.quantity; }, 0);
    $all('[data-cart-count]').forEach(function (el) { el.textContent = count; });
    var user = load(USER, null);
    $all('[data-signed-in]').forEach(function (el) { el.hidden = !user; });
    $all('[data-signed-out]').forEach(function (el) { el.hidden = !!user; });
    $all('[data-user-name]').forEach(function (el) { el.textContent = user ? (user.name || user.email) : ''; });
    var me = s.user();
    var id = me.userId || me.anonymousId;
    $all('[data-me-link]').forEach(function (el) { el.href = '/demo/profile?id=' + encodeURIComponent(id); });
    $all('[data-me-label]').forEach(function (el) {
      el.textContent = 'This browser: ' + (me.userId ? 'user ' : 'anonymous ') + id.slice(0, 14) + '…';
    });
  }
  $all('[data-logout]').forEach(function (el) {
    el.addEventListener('click', function (ev) {
      ev.preventDefault();
      s.track('Signed Out', {});
      s.flush();
      s.reset();
      localStorage.removeItem(USER);
      refreshHeader();
      toast('Signed out: this browser is a new anonymous visitor.');
    });
  });

  // -- product page: add to cart --------------------------------------------------------------
  $all('[data-add-to-cart]').forEach(function (button) {
    button.addEventListener('click', function () {
      var product = data.page.product;
      var cart = load(CART, []);
      var line = cart.find(function (l) { return l.product_id === product.product_id; });
      if (line) line.quantity += 1;
      else cart.push(Object.assign({}, product, { quantity: 1 }));
      save(CART, cart);
      var props = Object.assign({}, product, { quantity: 1 });
      delete props.url;
      delete props.image_url;
      s.track('Product Added', props);
      refreshHeader();
      toast('Added to cart: ' + product.name);
    });
  });

  // -- cart page -----------------------------------------------------------------------------
  var lines = $('[data-cart-lines]');
  function renderCart() {
    var cart = load(CART, []);
    $('[data-cart-empty]').hidden = cart.length > 0;
    $('[data-cart-table]').hidden = cart.length === 0;
    $('[data-cart-actions]').hidden = cart.length === 0;
    lines.textContent = '';
    var total = 0;
    cart.forEach(function (l, i) {
      total += l.price * l.quantity;
      var tr = document.createElement('tr');
      [l.name, money(l.price), String(l.quantity), money(l.price * l.quantity)].forEach(function (text, k) {
        var td = document.createElement('td');
        if (k === 0) {
          var a = document.createElement('a');
          a.href = '/product/' + encodeURIComponent(l.product_id);
          a.textContent = text;
          td.appendChild(a);
        } else td.textContent = text;
        tr.appendChild(td);
      });
      var td = document.createElement('td');
      var rm = document.createElement('button');
      rm.className = 'ghost small';
      rm.textContent = 'Remove';
      rm.addEventListener('click', function () {
        cart.splice(i, 1);
        save(CART, cart);
        s.track('Product Removed', { product_id: l.product_id, name: l.name, category: l.category,
          brand: l.brand, price: l.price, quantity: l.quantity, currency: 'EUR' });
        renderCart();
        refreshHeader();
      });
      td.appendChild(rm);
      tr.appendChild(td);
      lines.appendChild(tr);
    });
    $('[data-cart-total]').textContent = money(total);
    var hint = $('[data-checkout-hint]');
    if (hint) hint.textContent = load(USER, null) ? '' : 'Checking out as a guest — sign in first to link this order to you.';
  }
  if (lines) {
    renderCart();
    $('[data-checkout]').addEventListener('click', function () {
      var cart = load(CART, []);
      if (!cart.length) return;
      var revenue = cart.reduce(function (n, l) { return n + l.price * l.quantity; }, 0);
      var orderId = 'o-' + Date.now().toString(36) + '-' + Math.floor(Math.random() * 1e6).toString(36);
      s.track('Order Completed', {
        order_id: orderId,
        revenue: Math.round(revenue * 100) / 100,
        currency: 'EUR',
        products: cart.map(function (l) {
          return { product_id: l.product_id, sku: l.sku, name: l.name, category: l.category,
            brand: l.brand, price: l.price, quantity: l.quantity };
        })
      });
      s.flush();
      save(CART, []);
      $('[data-cart]').hidden = true;
      $('[data-thanks]').hidden = false;
      $('[data-order-id]').textContent = orderId;
      refreshHeader();
    });
  }

  // -- login -------------------------------------------------------------------------------
  var form = $('[data-login-form]');
  function showLogin(user) {
    $('[data-login-done]').hidden = false;
    $('[data-login-email]').textContent = user.email;
    $('[data-login-user]').textContent = userIdForEmail(user.email);
  }
  if (form) {
    if (load(USER, null)) showLogin(load(USER, null));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var email = form.email.value.trim().toLowerCase();
      var name = form.name.value.trim();
      if (!email) return;
      var traits = { email: email };
      if (name) traits.name = name;
      s.identify(userIdForEmail(email), traits);
      s.flush();
      save(USER, { email: email, name: name });
      form.hidden = true;
      showLogin({ email: email });
      refreshHeader();
    });
  }

  // -- consent banner ------------------------------------------------------------------------
  var banner = $('[data-consent]');
  function openBanner() {
    var current = s.consent() || {};
    $all('[data-purpose]').forEach(function (box) { box.checked = !!current[box.dataset.purpose]; });
    banner.hidden = false;
  }
  function choose(personalization, marketing) {
    var choices = { analytics: true, personalization: personalization, marketing: marketing };
    s.consent(choices);
    s.track('Consent Updated', choices);
    banner.hidden = true;
  }
  $('[data-consent-accept]').addEventListener('click', function () { choose(true, true); });
  $('[data-consent-refuse]').addEventListener('click', function () { choose(false, false); });
  $('[data-consent-save]').addEventListener('click', function () {
    choose($('[data-purpose="personalization"]').checked, $('[data-purpose="marketing"]').checked);
  });
  $all('[data-consent-open]').forEach(function (el) {
    el.addEventListener('click', function (ev) { ev.preventDefault(); openBanner(); });
  });
  if (!s.consent()) openBanner();

  // -- live recommendations: fetched with the write key for this browser's anonymousId ----------
  function recCard(entry) {
    var card = document.createElement('article');
    card.className = 'card rec';
    card.dataset.itemId = entry.id;
    var pic = document.createElement('a');
    pic.className = 'pic';
    pic.href = entry.url || '/product/' + encodeURIComponent(entry.id);
    var img = document.createElement('img');
    img.src = entry.image || '/static/img/' + encodeURIComponent(entry.id) + '.svg';
    img.alt = '';
    img.width = 400;
    img.height = 300;
    pic.appendChild(img);
    card.appendChild(pic);
    var body = document.createElement('div');
    body.className = 'body';
    [['p', 'brand', entry.brand || ''], ['h3', '', ''], ['p', 'meta', ''], ['p', 'why', entry.reason.text]]
      .forEach(function (spec) {
        var el = document.createElement(spec[0]);
        if (spec[1]) el.className = spec[1];
        el.textContent = spec[2];
        if (spec[0] === 'h3') {
          var a = document.createElement('a');
          a.href = pic.href;
          a.textContent = entry.title || entry.id;
          el.appendChild(a);
        }
        if (spec[1] === 'meta' && typeof entry.price === 'number') el.textContent = money(entry.price);
        if (spec[1] === 'why') el.dataset.reasonCode = entry.reason.code;
        body.appendChild(el);
      });
    card.appendChild(body);
    return card;
  }
  function loadRecs(section) {
    var params = new URLSearchParams({
      anonymous_id: s.user().anonymousId, context: section.dataset.context, k: section.dataset.k || '4'
    });
    if (section.dataset.itemId) params.set('item_id', section.dataset.itemId);
    if (section.dataset.relation) params.set('relation', section.dataset.relation);
    if (section.dataset.excludeSeen) params.set('exclude_seen', 'true');
    if (section.dataset.context === 'cart') {
      var cart = load(CART, []);
      if (!cart.length) { section.hidden = true; return; }
      cart.forEach(function (l) { params.append('item_ids', l.product_id); });
    }
    fetch('/v1/recommendations?' + params.toString(), {
      headers: { Authorization: 'Basic ' + btoa(data.writeKey + ':') }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (answer) {
      var grid = section.querySelector('[data-recs-grid]');
      grid.textContent = '';
      if (!answer || !answer.items.length) { section.hidden = true; return; }
      answer.items.forEach(function (entry) { grid.appendChild(recCard(entry)); });
      section.dataset.version = answer.model.version;
      section.hidden = false;
    }).catch(function () { section.hidden = true; });
  }
  function refreshRecs() { $all('[data-recs]').forEach(loadRecs); }
  // the events of the previous page were sent when it was left; send this page's first
  function flushThenRefresh() {
    Promise.resolve(s.flush()).then(function () { setTimeout(refreshRecs, 50); }, refreshRecs);
  }
  flushThenRefresh();
  // an add to cart changes the answers at once (the click handler above tracked it)
  $all('[data-add-to-cart]').forEach(function (b) { b.addEventListener('click', flushThenRefresh); });

  refreshHeader();
})();
