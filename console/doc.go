// Package console is Hydrant's web console: a page shell, its stylesheet and
// scripts embedded in the binary (no CDN, no build step: it works offline),
// served at /console/ by `hydrant serve`, and the history its charts draw
// (package history) served as JSON.
//
// The shell holds no data and loads without credentials; every number on
// the pages comes from the JSON APIs (/v1/status, /v1/console/history, the
// deliveries' error output and redrive), which need the credentials the
// server asks for. With server.auth on, the console asks for an API key once,
// keeps it in the tab's sessionStorage and sends it in the X-Api-Key header:
// never in a URL.
package console
