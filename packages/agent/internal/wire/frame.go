// Package wire implements the axo-agent wire protocol, version 1 (see the package README):
// frames of `kind u8 | length u32 big-endian | payload`, the JSON messages carried in MSG
// frames, and the HMAC handshake helpers. Both directions are hostile: every length is
// checked before anything is allocated, and nothing here panics on any input.
package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Frame kinds.
const (
	KindMsg byte = 0x01 // one JSON object with a string field "type"
	KindIn  byte = 0x02 // host → agent: stdin bytes; length 0 = end of input
	KindOut byte = 0x03 // agent → host: stdout (or PTY) bytes
	KindErr byte = 0x04 // agent → host: stderr bytes
)

const (
	// HeaderLen is the size of a frame header: kind (1) + length (4).
	HeaderLen = 5
	// MaxPayload is the largest payload either side accepts (1 MiB).
	MaxPayload = 1 << 20
	// ProtocolVersion is the only protocol version this package speaks.
	ProtocolVersion = 1
)

// The classes of protocol error, as named in testdata/golden-frames.json. Every error
// returned for a malformed frame wraps exactly one of them (test with errors.Is).
var (
	ErrKind   = errors.New("unknown frame kind")
	ErrLength = errors.New("frame length over the limit")
	ErrJSON   = errors.New("message is not valid UTF-8 JSON")
	ErrObject = errors.New("message is not a JSON object")
	ErrType   = errors.New("message has no string field \"type\"")
)

// ErrNeedMore is returned by Parse when the buffer holds no complete frame yet.
var ErrNeedMore = errors.New("need more bytes")

// ProtocolError is a malformed frame or message; Class is one of the Err* classes above.
type ProtocolError struct {
	Class  error
	Detail string
}

func (e *ProtocolError) Error() string {
	if e.Detail == "" {
		return "protocol error: " + e.Class.Error()
	}
	return "protocol error: " + e.Class.Error() + ": " + e.Detail
}

func (e *ProtocolError) Unwrap() error { return e.Class }

func protoErr(class error, format string, args ...any) error {
	return &ProtocolError{Class: class, Detail: fmt.Sprintf(format, args...)}
}

// Frame is one decoded frame. For KindMsg, Type is the message's "type" and Payload the
// JSON object; for data frames Type is empty.
type Frame struct {
	Kind    byte
	Type    string
	Payload []byte
}

// Decode unmarshals a MSG frame's payload into v (unknown fields are ignored).
func (f Frame) Decode(v any) error {
	if f.Kind != KindMsg {
		return fmt.Errorf("frame kind %d is not a message", f.Kind)
	}
	if err := json.Unmarshal(f.Payload, v); err != nil {
		return fmt.Errorf("message %q: %w", f.Type, err)
	}
	return nil
}

func checkHeader(hdr []byte, limit int) (kind byte, n int, err error) {
	kind = hdr[0]
	if kind < KindMsg || kind > KindErr {
		return 0, 0, protoErr(ErrKind, "kind 0x%02x", kind)
	}
	length := binary.BigEndian.Uint32(hdr[1:5])
	if limit <= 0 || limit > MaxPayload {
		limit = MaxPayload
	}
	if uint64(length) > uint64(limit) {
		return 0, 0, protoErr(ErrLength, "length %d, limit %d", length, limit)
	}
	return kind, int(length), nil
}

// finish validates a complete payload and builds the frame.
func finish(kind byte, payload []byte) (Frame, error) {
	f := Frame{Kind: kind, Payload: payload}
	if kind != KindMsg {
		return f, nil
	}
	typ, err := ValidateMessage(payload)
	if err != nil {
		return Frame{}, err
	}
	f.Type = typ
	return f, nil
}

// Parse decodes the first frame in buf without copying (the frame's payload aliases buf)
// and returns it with the number of bytes it used. It returns ErrNeedMore while buf holds
// no complete frame, and a *ProtocolError as soon as the header or message is invalid
// (an invalid header is refused before its payload arrives).
func Parse(buf []byte) (Frame, int, error) {
	if len(buf) < 1 {
		return Frame{}, 0, ErrNeedMore
	}
	if buf[0] < KindMsg || buf[0] > KindErr {
		return Frame{}, 0, protoErr(ErrKind, "kind 0x%02x", buf[0])
	}
	if len(buf) < HeaderLen {
		return Frame{}, 0, ErrNeedMore
	}
	kind, n, err := checkHeader(buf[:HeaderLen], MaxPayload)
	if err != nil {
		return Frame{}, 0, err
	}
	if len(buf)-HeaderLen < n {
		return Frame{}, 0, ErrNeedMore
	}
	f, err := finish(kind, buf[HeaderLen:HeaderLen+n])
	if err != nil {
		return Frame{}, 0, err
	}
	return f, HeaderLen + n, nil
}

// Reader reads frames from a stream. Payload memory grows with the bytes actually
// received (never with the declared length alone), up to the limit.
type Reader struct {
	r     io.Reader
	hdr   [HeaderLen]byte
	Limit int // largest payload accepted; 0 or more than MaxPayload means MaxPayload
	buf   []byte
}

// NewReader returns a frame reader over r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

const readChunk = 64 << 10

// Next reads one frame. It returns io.EOF on a clean end of stream between frames,
// io.ErrUnexpectedEOF inside a frame, a *ProtocolError for a malformed frame, or the
// reader's error. The payload is freshly allocated (the caller may keep it).
func (fr *Reader) Next() (Frame, error) { return fr.next(false) }

// NextReuse is Next, but the payload is read into a buffer the Reader keeps (grown the
// same way, as bytes arrive, up to the limit): it is valid only until the next call.
// For a stream of large frames consumed at once (a file upload).
func (fr *Reader) NextReuse() (Frame, error) { return fr.next(true) }

func (fr *Reader) next(reuse bool) (Frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:1]); err != nil {
		return Frame{}, err
	}
	if fr.hdr[0] < KindMsg || fr.hdr[0] > KindErr {
		return Frame{}, protoErr(ErrKind, "kind 0x%02x", fr.hdr[0])
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[1:]); err != nil {
		return Frame{}, noEOF(err)
	}
	kind, n, err := checkHeader(fr.hdr[:], fr.Limit)
	if err != nil {
		return Frame{}, err
	}
	var payload []byte
	if n > 0 {
		// Grow with what arrives: a peer that declares 1 MiB and sends nothing costs 64 KiB.
		if reuse && cap(fr.buf) > 0 {
			payload = fr.buf[:0]
		} else {
			payload = make([]byte, 0, min(n, readChunk))
		}
		if reuse {
			defer func() { fr.buf = payload[:0] }()
		}
		for len(payload) < n {
			want := min(n-len(payload), readChunk)
			if cap(payload)-len(payload) < want {
				grown := make([]byte, len(payload), min(n, max(2*cap(payload), len(payload)+want)))
				copy(grown, payload)
				payload = grown
			}
			m, err := io.ReadFull(fr.r, payload[len(payload):len(payload)+want])
			payload = payload[:len(payload)+m]
			if err != nil {
				return Frame{}, noEOF(err)
			}
		}
	}
	return finish(kind, payload)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ValidateMessage checks that payload is valid UTF-8 JSON holding one object with a
// string field "type" (compared exactly; when repeated, the last one counts, as in
// JSON.parse) and returns that type.
func ValidateMessage(payload []byte) (string, error) {
	if len(payload) == 0 {
		return "", protoErr(ErrJSON, "empty message")
	}
	if !utf8.Valid(payload) {
		return "", protoErr(ErrJSON, "invalid UTF-8")
	}
	if !json.Valid(payload) {
		return "", protoErr(ErrJSON, "invalid JSON")
	}
	trimmed := bytes.TrimLeft(payload, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return "", protoErr(ErrObject, "not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil { // '{'
		return "", protoErr(ErrJSON, "%v", err)
	}
	var last json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", protoErr(ErrJSON, "%v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", protoErr(ErrJSON, "%v", err)
		}
		if key == "type" {
			last = raw
		}
	}
	if last == nil {
		return "", protoErr(ErrType, "no \"type\"")
	}
	var typ string
	if last[0] != '"' || json.Unmarshal(last, &typ) != nil {
		return "", protoErr(ErrType, "\"type\" is not a string")
	}
	return typ, nil
}

// AppendFrame appends a frame of kind with payload to dst.
func AppendFrame(dst []byte, kind byte, payload []byte) []byte {
	dst = append(dst, kind, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(payload)))
	return append(dst, payload...)
}

// AppendHeader appends just a frame header (for writing a payload separately).
func AppendHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(n))
	return dst
}

// EncodeMessage marshals msg (which must marshal to an object with a "type") into a
// complete MSG frame.
func EncodeMessage(msg any) ([]byte, error) {
	payload, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if len(payload) > MaxPayload {
		return nil, protoErr(ErrLength, "message of %d bytes", len(payload))
	}
	return AppendFrame(make([]byte, 0, HeaderLen+len(payload)), KindMsg, payload), nil
}
