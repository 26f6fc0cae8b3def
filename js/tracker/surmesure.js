/*! surmesure.js — a small, dependency-free event tracker (Segment-compatible). Apache-2.0 */
(function (root) {
  'use strict';
  var VERSION = '0.1.0';
  var P = 'surmesure.';
  var MAX_QUEUE = 1000;
  var BEACON_BYTES = 60000;
  var cfg = { writeKey: '', host: '', flushInterval: 1000, flushAt: 20 };
  var queue = [];
  var timer = null;
  var sending = false;
  var attempt = 0;
  var ready = false;

  function get(key) {
    try { return root.localStorage.getItem(P + key); } catch (e) { return null; }
  }
  function set(key, value) {
    try {
      if (value === null) root.localStorage.removeItem(P + key);
      else root.localStorage.setItem(P + key, value);
      return true;
    } catch (e) { return false; }
  }
  function cookie(key, value) {
    var name = P + key;
    if (value === undefined) {
      var m = document.cookie.match(new RegExp('(?:^|; )' + name.replace('.', '\\.') + '=([^;]*)'));
      return m ? decodeURIComponent(m[1]) : null;
    }
    document.cookie = name + '=' + encodeURIComponent(value) + '; path=/; max-age=31536000; SameSite=Lax';
    return value;
  }
  function json(key) {
    try { return JSON.parse(get(key) || 'null'); } catch (e) { return null; }
  }
  function uuid() {
    var c = root.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function anonymousId() {
    var id = get('anonymousId') || cookie('anonymousId');
    if (!id) id = uuid();
    if (!set('anonymousId', id)) cookie('anonymousId', id);
    return id;
  }
  function context() {
    var ctx = {
      library: { name: 'surmesure.js', version: VERSION },
      page: {
        path: location.pathname, url: location.href, referrer: document.referrer,
        title: document.title, search: location.search
      },
      userAgent: navigator.userAgent,
      locale: navigator.language
    };
    try { ctx.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old browser */ }
    var consent = json('consent');
    if (consent) ctx.consent = { categoryPreferences: consent };
    return ctx;
  }
  function persist() { set('queue', JSON.stringify(queue)); }
  // what an earlier page could not send is sent by this one (the server drops duplicates)
  var saved = json('queue');
  if (Array.isArray(saved)) queue = saved.filter(function (m) { return m && m.messageId; });

  function enqueue(message) {
    message.messageId = uuid();
    message.timestamp = new Date().toISOString();
    message.anonymousId = anonymousId();
    var userId = get('userId');
    if (userId && !message.userId) message.userId = userId;
    message.context = context();
    queue.push(message);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    persist();
    if (!ready) return;
    if (queue.length >= cfg.flushAt) flush();
    else schedule(cfg.flushInterval);
  }
  function schedule(ms) {
    if (timer === null) timer = setTimeout(function () { timer = null; flush(); }, ms);
  }
  function body(batch) {
    var now = new Date().toISOString();
    batch.forEach(function (m) { m.sentAt = now; });
    return JSON.stringify({ batch: batch, sentAt: now, writeKey: cfg.writeKey });
  }
  function drop(batch) {
    var ids = {};
    batch.forEach(function (m) { ids[m.messageId] = true; });
    queue = queue.filter(function (m) { return !ids[m.messageId]; });
    persist();
  }
  function retry(retryAfter) {
    attempt += 1;
    var ms = retryAfter ? retryAfter * 1000 : Math.min(30000, 1000 * Math.pow(2, attempt - 1));
    schedule(ms + Math.floor(Math.random() * 250));
  }

  // Send up to 100 queued events; 2xx and 4xx (refused, quarantined) leave the queue,
  // network errors, 5xx and 429 are retried with backoff (honouring Retry-After).
  function flush() {
    if (sending || !queue.length || !cfg.host) return Promise.resolve();
    if (timer !== null) { clearTimeout(timer); timer = null; }
    var batch = queue.slice(0, 100);
    sending = true;
    return fetch(cfg.host + '/v1/batch', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Basic ' + btoa(cfg.writeKey + ':') },
      body: body(batch)
    }).then(function (res) {
      sending = false;
      if (res.status === 429 || res.status >= 500) {
        retry(parseInt(res.headers.get('Retry-After') || '0', 10));
        return;
      }
      attempt = 0;
      drop(batch);
      if (queue.length) schedule(0);
    }, function () {
      sending = false;
      retry(0);
    });
  }

  // The page is going away: hand what is left to the browser (sendBeacon, or a
  // keepalive fetch); the body carries the write key since a beacon sends no header.
  function unload() {
    if (!queue.length || !cfg.host) return;
    var batch = [];
    var size = 200;
    for (var i = 0; i < queue.length; i++) {
      size += JSON.stringify(queue[i]).length + 40;
      if (size > BEACON_BYTES) break;
      batch.push(queue[i]);
    }
    var data = body(batch);
    var url = cfg.host + '/v1/batch';
    var sent = false;
    try {
      sent = !!navigator.sendBeacon && navigator.sendBeacon(url, new Blob([data], { type: 'text/plain' }));
    } catch (e) { sent = false; }
    if (sent) {
      drop(batch);
      return;
    }
    // a keepalive fetch may still fail after the page is gone: the events stay queued
    // and the next page sends them again (the server drops duplicates by messageId)
    try {
      fetch(url, { method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' }, body: data })
        .then(function (res) { if (res.ok) drop(batch); }, function () { /* kept for the next page */ });
    } catch (e) { /* kept for the next page */ }
  }

  var api = {
    VERSION: VERSION,
    init: function (options) {
      options = options || {};
      Object.keys(options).forEach(function (k) { cfg[k] = options[k]; });
      cfg.host = String(cfg.host || location.origin).replace(/\/+$/, '');
      ready = true;
      root.addEventListener('pagehide', unload);
      document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'hidden') unload();
      });
      if (queue.length) schedule(0);
      return api;
    },
    page: function (name, properties) {
      var props = Object.assign({
        path: location.pathname, url: location.href, referrer: document.referrer, title: document.title
      }, properties || {});
      enqueue({ type: 'page', name: name || document.title, properties: props });
    },
    track: function (event, properties) {
      enqueue({ type: 'track', event: String(event), properties: properties || {} });
    },
    identify: function (userId, traits) {
      if (userId) set('userId', String(userId));
      enqueue({ type: 'identify', userId: userId ? String(userId) : undefined, traits: traits || {} });
    },
    reset: function () {
      set('userId', null);
      set('anonymousId', null);
      cookie('anonymousId', '');
      anonymousId();
    },
    consent: function (choices) {
      if (choices) {
        var current = json('consent') || {};
        ['analytics', 'personalization', 'marketing'].forEach(function (k) {
          if (typeof choices[k] === 'boolean') current[k] = choices[k];
        });
        set('consent', JSON.stringify(current));
      }
      return json('consent');
    },
    user: function () { return { anonymousId: anonymousId(), userId: get('userId') }; },
    flush: flush,
    queued: function () { return queue.length; }
  };
  root.surmesure = api;
})(window);
