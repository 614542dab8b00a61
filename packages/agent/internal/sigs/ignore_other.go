//go:build !(linux && (amd64 || arm64))

package sigs

// IgnoreAsync, where the raw sigaction layout is not known, falls back to Swallow (which
// costs os/signal's threads).
func IgnoreAsync() error {
	Swallow()
	return nil
}
