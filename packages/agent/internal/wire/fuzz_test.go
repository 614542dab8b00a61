package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to both decoders: they must never panic, must agree,
// and must never return a payload over the limit (so nothing larger was allocated).
func FuzzDecode(f *testing.F) {
	g := loadGolden(f)
	for _, v := range g.Valid {
		f.Add(mustHex(f, v.Hex))
	}
	for _, v := range g.Invalid {
		f.Add(mustHex(f, v.Hex))
	}
	for _, v := range g.Truncated {
		f.Add(mustHex(f, v.Hex))
	}
	// File requests, an upload and malformed variants of them.
	for _, m := range []string{
		`{"type":"fs.read","path":"/etc/hostname","offset":0,"length":-1}`,
		`{"type":"fs.write","path":"a/b","mode":420,"parents":true,"maxBytes":10}`,
		`{"type":"fs.list","path":".","depth":32}`,
		`{"type":"fs.watch","path":"/work","recursive":true}`,
		`{"type":"fs.remove","path":"x","recursive":true,"user":"nobody"}`,
		`{"type":"fs.move","from":"a","to":"b"}`,
		`{"type":"fs.symlink","path":"l","target":"/etc/shadow"}`,
		`{"type":"fs.mkdir","path":"d","mode":-1}`,
		`{"type":"fs.stat","path":"a\u0000b","follow":true}`,
	} {
		frame := AppendFrame(nil, KindMsg, []byte(m))
		f.Add(frame)
		f.Add(AppendFrame(AppendFrame(append([]byte(nil), frame...), KindIn, []byte("data")), KindIn, nil))
		f.Add(frame[:len(frame)-3])
	}
	f.Add([]byte{1, 0, 0, 0, 2, '{', '}'})
	f.Add([]byte{2, 0, 0, 0, 0, 3, 0, 0, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		fr := NewReader(bytes.NewReader(data))
		for {
			pf, n, perr := Parse(rest)
			sf, serr := fr.Next()
			if perr == nil {
				if n < HeaderLen || n > len(rest) || len(pf.Payload) > MaxPayload {
					t.Fatalf("Parse: bad frame n=%d len=%d", n, len(pf.Payload))
				}
				if serr != nil || sf.Kind != pf.Kind || sf.Type != pf.Type || !bytes.Equal(sf.Payload, pf.Payload) {
					t.Fatalf("decoders disagree: %v / %v", perr, serr)
				}
				if pf.Kind == KindMsg {
					if _, err := ValidateMessage(pf.Payload); err != nil {
						t.Fatalf("accepted message fails validation: %v", err)
					}
				}
				rest = rest[n:]
				continue
			}
			if serr == nil {
				t.Fatalf("Reader accepted what Parse refused (%v)", perr)
			}
			if perr == ErrNeedMore {
				if serr != io.ErrUnexpectedEOF && serr != io.EOF {
					t.Fatalf("need more vs %v", serr)
				}
			} else {
				var pe *ProtocolError
				if !errors.As(perr, &pe) {
					t.Fatalf("error is not a ProtocolError: %v", perr)
				}
				if !errors.Is(serr, pe.Class) {
					t.Fatalf("Parse %v vs Reader %v", perr, serr)
				}
			}
			return
		}
	})
}
