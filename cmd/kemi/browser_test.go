package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kemi-sip/kemi/core/sip"
)

// browserPage is the test's page: two JsSIP phones, user0001 and bob,
// registered to kemi over WSS; user0001 calls bob, bob answers, the call
// is confirmed on both sides and user0001 hangs up after a second. Each
// step is written on the page (the screenshot) and into window.steps.
const browserPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>kemi WebRTC</title>
<style>body{font:16px sans-serif;margin:2em} .ok{color:#070} .bad{color:#b00} pre{background:#f4f4f4;padding:1em}</style>
<script src="/jssip.js"></script></head>
<body><h1>kemi: two JsSIP phones over WSS</h1><div id="state">starting</div><pre id="log"></pre>
<script>
window.steps = [];
function step(s, bad) {
  window.steps.push(s);
  document.getElementById("log").textContent += s + "\n";
  const st = document.getElementById("state");
  st.textContent = s; st.className = bad ? "bad" : "ok";
}
const server = "wss://%[1]s";
const domain = "%[2]s";
function phone(user, pass) {
  const ua = new JsSIP.UA({sockets: [new JsSIP.WebSocketInterface(server)], uri: "sip:" + user + "@" + domain,
    password: pass, register: true, session_timers: false, user_agent: "JsSIP " + JsSIP.version + " (kemi test)"});
  ua.on("registered", () => step(user + ": registered"));
  ua.on("registrationFailed", e => step(user + ": registration failed: " + e.cause, true));
  return ua;
}
const caller = phone("user0001", "pass0001"), callee = phone("bob", "bobpass");
callee.on("newRTCSession", e => {
  if (e.originator !== "remote") return;
  const s = e.session;
  step("bob: incoming call from " + s.remote_identity.uri.user);
  s.on("confirmed", () => step("bob: call confirmed"));
  s.on("ended", ev => { step("bob: call ended (" + ev.cause + ")"); over(); });
  s.on("failed", ev => { step("bob: call failed (" + ev.cause + ")", true); over(); });
  s.answer({mediaConstraints: {audio: true, video: false}});
});
// done when both sides saw the call end
let ends = 0;
function over() { if (++ends === 2) window.done = true; }
let registered = 0;
function start() {
  if (++registered < 2) return;
  step("user0001: calling bob");
  const s = caller.call("sip:bob@" + domain, {mediaConstraints: {audio: true, video: false}, eventHandlers: {
    confirmed: () => { step("user0001: call confirmed"); setTimeout(() => s.terminate(), 1000); },
    ended: ev => { step("user0001: call ended (" + ev.cause + ")"); over(); },
    failed: ev => { step("user0001: call failed (" + ev.cause + ")", true); window.done = true; },
  }});
}
caller.on("registered", start); callee.on("registered", start);
caller.start(); callee.start();
</script></body></html>`

// needBrowser finds Chromium and the JsSIP package (scripts/webrtc, npm
// ci) and bundles JsSIP for the page into dir; outside CI a missing one
// skips the test, in CI (.ci/run installs both) it fails.
func needBrowser(t *testing.T, dir string) (chromium, bundle string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(what + "; .ci/run installs it")
		}
		t.Skip(what + "; skipped outside CI")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		missing("chromium is not installed (apt-get install chromium)")
	}
	web := repoFile("scripts", "webrtc")
	esbuild := filepath.Join(web, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(filepath.Join(web, "node_modules", "jssip", "lib", "JsSIP.js")); err != nil {
		missing("JsSIP is not installed (cd scripts/webrtc && npm ci)")
	}
	bundle = filepath.Join(dir, "jssip.js")
	cmd := exec.Command(esbuild, "node_modules/jssip/lib/JsSIP.js", "--bundle", "--format=iife", "--global-name=JsSIP", "--outfile="+bundle)
	cmd.Dir = web
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bundling JsSIP: %v\n%s", err, out)
	}
	return chromium, bundle
}

// TestBrowserWebRTC: the reference proxy with WITH_WEBSOCKETS, WITH_TLS
// and WITH_AUTH; headless Chromium loads a page of the test's own with
// JsSIP (from npm), whose two phones register with digest authentication
// over WSS and call each other through kemi: the call is confirmed on
// both sides and ended by the caller. The page shows each step; its
// screenshot is written to the test's temp dir (and, with
// KEMI_TEST_SCREENSHOT=file, copied there).
func TestBrowserWebRTC(t *testing.T) {
	dir := t.TempDir()
	chromium, bundle := needBrowser(t, dir)
	cert, key := writeCert(t, dir)
	url := "sqlite://" + filepath.Join(dir, "kemi.db")
	prepareDB(t, url, 1)
	tlsCfg := filepath.Join(dir, "tls.cfg")
	writeFile(t, tlsCfg, "[server:default]\nmethod = TLSv1.2+\ncertificate = "+cert+"\nprivate_key = "+key+"\n")
	s, logs := startListening(t, repoFile("scripts", "proxy", "kamailio.cfg"), map[string]string{
		"WITH_WEBSOCKETS": "", "WITH_TLS": "", "WITH_AUTH": "", "TLS_CONFIG": strconv.Quote(tlsCfg),
		"DBURL": strconv.Quote(url), "SIP_DOMAIN": testDomain,
	}, "udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0")
	wss := s.Addr(sip.TransportTLS).String()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf(browserPage, wss, testDomain)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	})
	mux.HandleFunc("/jssip.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), // kemi's certificate is the test's own
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.WindowSize(900, 600))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	var steps []string
	err = chromedp.Do(ctx, chromedp.Navigate("http://"+l.Addr().String()+"/"))
	for err == nil {
		var done bool
		if done, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.done === true`)); done || err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, serr := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.steps || []`)); serr == nil {
		steps = got
	}
	if shot, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */); serr == nil {
		path := filepath.Join(dir, "webrtc.png")
		writeFile(t, path, string(shot))
		t.Logf("screenshot: %s", path)
		if keep := os.Getenv("KEMI_TEST_SCREENSHOT"); keep != "" {
			writeFile(t, keep, string(shot)) // a copy that outlives the temp dir
		}
	}
	if err != nil {
		t.Fatalf("the page: %v (steps so far %q)\nkemi's log:\n%s", err, steps, logs.String())
	}
	t.Logf("the page's steps:\n%s", strings.Join(steps, "\n"))
	for _, want := range []string{"user0001: registered", "bob: registered", "bob: incoming call from user0001", "bob: call confirmed",
		"user0001: call confirmed", "user0001: call ended", "bob: call ended"} {
		found := false
		for _, s := range steps {
			found = found || strings.HasPrefix(s, want)
		}
		if !found {
			t.Errorf("the page never showed %q\nkemi's log:\n%s", want, logs.String())
		}
	}
}
