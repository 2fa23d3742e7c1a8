// Package natsurl handles the lists of server URLs NATS clients take
// ("nats://a:4222,tls://b:4222"), so that what may carry a secret is
// redacted the same way wherever it is printed or logged.
package natsurl
