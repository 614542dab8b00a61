package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

type goldenFile struct {
	MaxPayload int `json:"maxPayload"`
	Valid      []struct {
		Name    string          `json:"name"`
		Kind    byte            `json:"kind"`
		Message json.RawMessage `json:"message"`
		Hex     string          `json:"hex"`
	} `json:"valid"`
	Invalid []struct {
		Name  string `json:"name"`
		Hex   string `json:"hex"`
		Error string `json:"error"`
	} `json:"invalid"`
	Truncated []struct {
		Name string `json:"name"`
		Hex  string `json:"hex"`
	} `json:"truncated"`
	Auth struct {
		Token  string `json:"token"`
		Nonce  string `json:"nonce"`
		Prefix string `json:"prefix"`
		MAC    string `json:"mac"`
	} `json:"auth"`
}

func loadGolden(t testing.TB) goldenFile {
	t.Helper()
	data, err := os.ReadFile("../../testdata/golden-frames.json")
	if err != nil {
		t.Fatalf("golden frames: %v", err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("golden frames: %v", err)
	}
	return g
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

var classes = map[string]error{"kind": ErrKind, "length": ErrLength, "json": ErrJSON, "object": ErrObject, "type": ErrType}

func TestGoldenMaxPayload(t *testing.T) {
	if g := loadGolden(t); g.MaxPayload != MaxPayload {
		t.Fatalf("golden maxPayload %d, ours %d", g.MaxPayload, MaxPayload)
	}
}

// typedFor maps each golden message (by name and type) to the struct this package
// encodes it from, so the test proves our structs (not just raw JSON) round-trip to the
// golden bytes.
func typedFor(name, typ string) any {
	switch name {
	case "fs-end-list":
		return &ListEnd{}
	case "fs-end-read":
		return &ReadEnd{}
	}
	switch typ {
	case TypeHello:
		return &Hello{}
	case TypeAuth:
		return &Auth{}
	case TypeStart:
		return &Start{}
	case TypeStarted:
		return &Started{}
	case TypeExit:
		return &Exit{}
	case TypeAttach:
		return &Attach{}
	case TypeAttached:
		return &Attached{}
	case TypeLost:
		return &Lost{}
	case TypeEnd:
		return &End{}
	case TypeSignal:
		return &Signal{}
	case TypeResize:
		return &Resize{}
	case TypeError:
		return &Error{}
	case TypeFsStat:
		return &FsStat{}
	case TypeFsList:
		return &FsList{}
	case TypeFsMkdir:
		return &FsMkdir{}
	case TypeFsRemove:
		return &FsRemove{}
	case TypeFsMove:
		return &FsMove{}
	case TypeFsSymlink:
		return &FsSymlink{}
	case TypeFsRead:
		return &FsRead{}
	case TypeFsWrite:
		return &FsWrite{}
	case TypeFsWatch:
		return &FsWatch{}
	case TypeEntry:
		return &EntryMsg{}
	case TypeEntries:
		return &Entries{}
	case TypeEvent:
		return &Event{}
	case TypeReady, TypeWatching:
		return &Simple{}
	}
	return nil
}

var sentByAgent = map[string]bool{
	TypeHello: true, TypeStarted: true, TypeExit: true, TypeAttached: true,
	TypeLost: true, TypeEnd: true, TypeError: true,
	TypeEntry: true, TypeEntries: true, TypeReady: true, TypeWatching: true, TypeEvent: true,
}

func TestGoldenValid(t *testing.T) {
	g := loadGolden(t)
	for _, v := range g.Valid {
		t.Run(v.Name, func(t *testing.T) {
			raw := mustHex(t, v.Hex)
			// Parse from a buffer (with a trailing byte that must not be consumed).
			f, n, err := Parse(append(append([]byte{}, raw...), 0x01))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(raw) || f.Kind != v.Kind {
				t.Fatalf("Parse: n=%d kind=%d, want n=%d kind=%d", n, f.Kind, len(raw), v.Kind)
			}
			// And from a stream, one byte at a time.
			f2, err := NewReader(iotest.OneByteReader(bytes.NewReader(raw))).Next()
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			if f2.Kind != f.Kind || !bytes.Equal(f2.Payload, f.Payload) || f2.Type != f.Type {
				t.Fatalf("Reader and Parse disagree")
			}
			if v.Kind != KindMsg {
				enc := AppendFrame(nil, v.Kind, f.Payload)
				if !bytes.Equal(enc, raw) {
					t.Fatalf("encode: got %x want %x", enc, raw)
				}
				return
			}
			if !jsonEqual(t, f.Payload, v.Message) {
				t.Fatalf("decoded %s, want %s", f.Payload, v.Message)
			}
			// Encode the golden message (as generic JSON and as our struct) and decode again.
			var generic map[string]any
			if err := json.Unmarshal(v.Message, &generic); err != nil {
				t.Fatal(err)
			}
			if f.Type != generic["type"] {
				t.Fatalf("type %q, want %v", f.Type, generic["type"])
			}
			enc, err := EncodeMessage(generic)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := Parse(enc)
			if err != nil || !jsonEqual(t, back.Payload, v.Message) {
				t.Fatalf("round trip: %v %s", err, back.Payload)
			}
			if typed := typedFor(v.Name, f.Type); typed != nil {
				if err := f.Decode(typed); err != nil {
					t.Fatalf("decode into %T: %v", typed, err)
				}
				enc, err := EncodeMessage(typed)
				if err != nil {
					t.Fatal(err)
				}
				back, _, err := Parse(enc)
				if err != nil {
					t.Fatal(err)
				}
				if sentByAgent[f.Type] {
					// What the agent sends must match the golden JSON exactly.
					if !jsonEqual(t, back.Payload, v.Message) {
						t.Fatalf("typed round trip %T:\n got %s\nwant %s", typed, back.Payload, v.Message)
					}
				} else {
					// What the agent receives must decode to the same request again.
					again := typedFor(v.Name, f.Type)
					if err := back.Decode(again); err != nil || !reflect.DeepEqual(again, typed) {
						t.Fatalf("typed round trip %T: %v\n got %+v\nwant %+v", typed, err, again, typed)
					}
				}
			}
		})
	}
}

func TestGoldenInvalid(t *testing.T) {
	g := loadGolden(t)
	for _, v := range g.Invalid {
		t.Run(v.Name, func(t *testing.T) {
			class, ok := classes[v.Error]
			if !ok {
				t.Fatalf("unknown error class %q", v.Error)
			}
			raw := mustHex(t, v.Hex)
			if _, _, err := Parse(raw); !errors.Is(err, class) {
				t.Fatalf("Parse: got %v, want %v", err, class)
			}
			if _, err := NewReader(bytes.NewReader(raw)).Next(); !errors.Is(err, class) {
				t.Fatalf("Reader: got %v, want %v", err, class)
			}
		})
	}
}

func TestGoldenTruncated(t *testing.T) {
	g := loadGolden(t)
	for _, v := range g.Truncated {
		t.Run(v.Name, func(t *testing.T) {
			raw := mustHex(t, v.Hex)
			if _, _, err := Parse(raw); err != ErrNeedMore {
				t.Fatalf("Parse: got %v, want ErrNeedMore", err)
			}
			if _, err := NewReader(bytes.NewReader(raw)).Next(); err != io.ErrUnexpectedEOF {
				t.Fatalf("Reader: got %v, want unexpected EOF", err)
			}
		})
	}
}

func TestGoldenAuth(t *testing.T) {
	g := loadGolden(t)
	if g.Auth.Prefix != AuthPrefix {
		t.Fatalf("prefix %q, ours %q", g.Auth.Prefix, AuthPrefix)
	}
	tok, err := ParseToken([]byte(g.Auth.Token + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ComputeMAC(tok, g.Auth.Nonce); got != g.Auth.MAC {
		t.Fatalf("mac %s, want %s", got, g.Auth.MAC)
	}
	if !CheckMAC(tok, g.Auth.Nonce, g.Auth.MAC) || !CheckMAC(tok, g.Auth.Nonce, strings.ToUpper(g.Auth.MAC)) {
		t.Fatal("CheckMAC refused the golden MAC")
	}
	for _, bad := range []string{"", "00", g.Auth.MAC[:62], g.Auth.MAC + "00", strings.Repeat("0", 64), "zz" + g.Auth.MAC[2:]} {
		if CheckMAC(tok, g.Auth.Nonce, bad) {
			t.Fatalf("CheckMAC accepted %q", bad)
		}
	}
	if CheckMAC(tok, g.Auth.Nonce[:62]+"00", g.Auth.MAC) {
		t.Fatal("CheckMAC accepted the MAC for another nonce")
	}
}

func TestParseToken(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{strings.Repeat("a", 64), true},
		{" " + strings.Repeat("0", 64) + "\n", true},
		{strings.Repeat("a", 63), false},
		{strings.Repeat("a", 65), false},
		{strings.Repeat("g", 64), false},
		{"", false},
	} {
		if _, err := ParseToken([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("ParseToken(%q): err=%v", tc.in, err)
		}
	}
	n1, _ := NewNonce()
	n2, _ := NewNonce()
	if len(n1) != 64 || n1 == n2 {
		t.Fatalf("nonces %q %q", n1, n2)
	}
}

func TestMalformed(t *testing.T) {
	msg := func(s string) []byte { return AppendFrame(nil, KindMsg, []byte(s)) }
	for _, tc := range []struct {
		name string
		raw  []byte
		want error // nil = valid
	}{
		{"kind 5", []byte{5, 0, 0, 0, 0}, ErrKind},
		{"kind 0xff", []byte{0xff}, ErrKind},
		{"exactly 1 MiB header is fine until data", []byte{3, 0, 0x10, 0, 0}, ErrNeedMore},
		{"1 MiB + 1", []byte{3, 0, 0x10, 0, 1}, ErrLength},
		{"2^31", []byte{2, 0x80, 0, 0, 0}, ErrLength},
		{"whitespace only", msg("  "), ErrJSON},
		{"trailing garbage", msg(`{"type":"x"} x`), ErrJSON},
		{"two objects", msg(`{"type":"x"}{"type":"y"}`), ErrJSON},
		{"number", msg(`12`), ErrObject},
		{"null", msg(`null`), ErrObject},
		{"true", msg(`true`), ErrObject},
		{"type null", msg(`{"type":null}`), ErrType},
		{"type object", msg(`{"type":{"a":1}}`), ErrType},
		{"type array", msg(`{"type":["x"]}`), ErrType},
		{"TYPE is not type", msg(`{"TYPE":"x"}`), ErrType},
		{"nested type only", msg(`{"a":{"type":"x"}}`), ErrType},
		{"lone surrogate escape is valid JSON", msg(`{"type":"\ud800"}`), nil},
		{"valid with spaces", msg(" \n{ \"type\" : \"ping\" } "), nil},
		{"last type wins", msg(`{"type":1,"type":"ping"}`), nil},
		{"empty IN", []byte{2, 0, 0, 0, 0}, nil},
		{"binary OUT", []byte{3, 0, 0, 0, 2, 0xff, 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(tc.raw)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReaderLimitAndGrowth(t *testing.T) {
	// A frame over the reader's limit is refused from its header.
	r := NewReader(bytes.NewReader([]byte{1, 0, 0, 0x10, 0x01}))
	r.Limit = 4096
	if _, err := r.Next(); !errors.Is(err, ErrLength) {
		t.Fatalf("got %v", err)
	}
	// A frame of exactly 1 MiB is accepted, delivered in pieces.
	payload := bytes.Repeat([]byte{0xab}, MaxPayload)
	f, err := NewReader(iotest.HalfReader(bytes.NewReader(AppendFrame(nil, KindOut, payload)))).Next()
	if err != nil || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("1 MiB frame: %v", err)
	}
	// Several frames in a row, then a clean EOF.
	var stream []byte
	stream = AppendFrame(stream, KindIn, []byte("ab"))
	stream = AppendFrame(stream, KindIn, nil)
	stream = AppendFrame(stream, KindMsg, []byte(`{"type":"kill"}`))
	fr := NewReader(bytes.NewReader(stream))
	for i, want := range []string{"ab", "", `{"type":"kill"}`} {
		f, err := fr.Next()
		if err != nil || string(f.Payload) != want {
			t.Fatalf("frame %d: %v %q", i, err, f.Payload)
		}
		if i == 1 && f.Kind != KindIn {
			t.Fatal("empty IN is not EOF")
		}
		if i == 2 && f.Type != TypeKill {
			t.Fatalf("type %q", f.Type)
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestExitEncodesNulls(t *testing.T) {
	enc, err := EncodeMessage(Exit{Type: TypeExit, ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte(`"exitCode":null`)) || !bytes.Contains(enc, []byte(`"signal":null`)) {
		t.Fatalf("exit must carry explicit nulls: %s", enc[HeaderLen:])
	}
}

// TestFileMessages checks the file requests' defaults and what the agent sends for them.
func TestFileMessages(t *testing.T) {
	// Every file request and answer in the golden file has a struct here.
	g := loadGolden(t)
	seen := map[string]bool{}
	for _, v := range g.Valid {
		var m struct {
			Type string `json:"type"`
		}
		json.Unmarshal(v.Message, &m)
		if typedFor(v.Name, m.Type) == nil && strings.HasPrefix(v.Name, "fs") {
			t.Errorf("golden %s: no struct", v.Name)
		}
		seen[m.Type] = true
	}
	for _, typ := range []string{TypeFsStat, TypeFsList, TypeFsMkdir, TypeFsRemove, TypeFsMove, TypeFsSymlink,
		TypeFsRead, TypeFsWrite, TypeFsWatch, TypeEntry, TypeEntries, TypeReady, TypeWatching, TypeEvent} {
		if !seen[typ] {
			t.Errorf("no golden frame for %q", typ)
		}
	}
	// Absent fields decode to "not given" (null mode, length -1 is the agent's default).
	msg := func(s string) Frame {
		f, _, err := Parse(AppendFrame(nil, KindMsg, []byte(s)))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	var w FsWrite
	if err := msg(`{"type":"fs.write","path":"x","mode":null,"maxBytes":null,"extra":1}`).Decode(&w); err != nil ||
		w.Mode != nil || w.MaxBytes != nil || w.Parents {
		t.Fatalf("write defaults: %+v %v", w, err)
	}
	var r FsRead
	if err := msg(`{"type":"fs.read","path":"x"}`).Decode(&r); err != nil || r.Length != nil || r.Offset != 0 {
		t.Fatalf("read defaults: %+v %v", r, err)
	}
	for _, bad := range []string{
		`{"type":"fs.mkdir","path":"x","mode":-1}`,
		`{"type":"fs.mkdir","path":"x","mode":"755"}`,
		`{"type":"fs.read","path":"x","length":1.5}`,
		`{"type":"fs.list","path":["x"]}`,
		`{"type":"fs.write","path":"x","maxBytes":"big"}`,
	} {
		f := msg(bad)
		var v any
		switch f.Type {
		case TypeFsMkdir:
			v = &FsMkdir{}
		case TypeFsRead:
			v = &FsRead{}
		case TypeFsList:
			v = &FsList{}
		case TypeFsWrite:
			v = &FsWrite{}
		}
		if err := f.Decode(v); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	// Answers: symlinkTarget only for links; list and read ends carry their field always.
	enc, _ := EncodeMessage(EntryMsg{Type: TypeEntry, Entry: Entry{Name: "f", Type: "file"}})
	if bytes.Contains(enc, []byte("symlinkTarget")) {
		t.Fatalf("entry of a file: %s", enc)
	}
	enc, _ = EncodeMessage(ListEnd{Type: TypeEnd})
	if !bytes.Contains(enc, []byte(`"truncated":false`)) {
		t.Fatalf("list end: %s", enc)
	}
	enc, _ = EncodeMessage(ReadEnd{Type: TypeEnd})
	if !bytes.Contains(enc, []byte(`"bytes":0`)) {
		t.Fatalf("read end: %s", enc)
	}
	enc, _ = EncodeMessage(Event{Type: TypeEvent, Op: "remove", Path: "/x"})
	if !bytes.Contains(enc, []byte(`"dir":false`)) {
		t.Fatalf("event: %s", enc)
	}
	// The hello announces files and watch.
	has := map[string]bool{}
	for _, f := range Features {
		has[f] = true
	}
	if !has["files"] || !has["watch"] || !has["exec"] {
		t.Fatalf("features %v", Features)
	}
}

func TestNextReuse(t *testing.T) {
	var stream []byte
	want := [][]byte{bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 3<<18), nil, bytes.Repeat([]byte{3}, MaxPayload), []byte("x")}
	for _, p := range want {
		stream = AppendFrame(stream, KindIn, p)
	}
	stream = AppendFrame(stream, KindMsg, []byte(`{"type":"ping"}`))
	fr := NewReader(iotest.HalfReader(bytes.NewReader(stream)))
	for i, w := range want {
		f, err := fr.NextReuse()
		if err != nil || f.Kind != KindIn || !bytes.Equal(f.Payload, w) {
			t.Fatalf("frame %d: %v %d bytes", i, err, len(f.Payload))
		}
	}
	if f, err := fr.NextReuse(); err != nil || f.Type != TypePing {
		t.Fatalf("message: %v %q", err, f.Type)
	}
	if cap(fr.buf) > MaxPayload {
		t.Fatalf("buffer grew to %d", cap(fr.buf))
	}
	if _, err := fr.NextReuse(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	// Over the limit is refused from the header, as with Next.
	fr = NewReader(bytes.NewReader([]byte{2, 0, 0x10, 0, 1}))
	if _, err := fr.NextReuse(); !errors.Is(err, ErrLength) {
		t.Fatalf("oversized: %v", err)
	}
}
