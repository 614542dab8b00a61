package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// AuthPrefix is prepended to the nonce in the HMAC message.
const AuthPrefix = "axo-agent-auth-v1\n"

// TokenLen is the length of a token: 64 ASCII hex characters (32 random bytes).
const TokenLen = 64

// ParseToken validates a token file's contents (surrounding whitespace is ignored) and
// returns the 64 hex characters that are the HMAC key.
func ParseToken(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	if len(s) != TokenLen {
		return nil, fmt.Errorf("token must be %d hex characters, got %d characters", TokenLen, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return nil, errors.New("token must be hex")
	}
	return []byte(s), nil
}

// NewNonce returns 32 fresh random bytes as 64 lowercase hex characters.
func NewNonce() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func mac(token []byte, nonce string) []byte {
	h := hmac.New(sha256.New, token)
	h.Write([]byte(AuthPrefix))
	h.Write([]byte(nonce))
	return h.Sum(nil)
}

// ComputeMAC returns HMAC-SHA256(key = token hex text, AuthPrefix + nonce) as hex.
func ComputeMAC(token []byte, nonce string) string {
	return hex.EncodeToString(mac(token, nonce))
}

// CheckMAC compares a peer's hex MAC with the expected one in constant time.
func CheckMAC(token []byte, nonce, got string) bool {
	want := mac(token, nonce)
	raw, err := hex.DecodeString(got)
	if err != nil || len(raw) != len(want) {
		// Still spend the comparison so timing says nothing about where it failed.
		hmac.Equal(want, want)
		return false
	}
	return hmac.Equal(want, raw)
}
