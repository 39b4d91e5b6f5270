package peer

import (
	"net/http"
	"time"
)

// SetHandshakeTimeout shortens the client's TLS handshake bound, so that a
// test of the bound does not wait the production value.
func SetHandshakeTimeout(c *Client, d time.Duration) {
	c.http.Transport.(*http.Transport).TLSHandshakeTimeout = d
}
