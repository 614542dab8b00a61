// Command client is a throwaway development client for the agent (not shipped): it sends
// one request (JSON on the command line) and prints every frame it gets back. With
// -stdin it forwards its stdin as IN frames and a zero-length one at the end (a process's
// stdin, or an fs.write upload; it waits for nothing before sending).
//
//	go run ./_dev/client -sock /run/axo-dev/t1/s/agent.sock -token /run/axo-dev/t1/token '{"type":"list"}'
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"axo.dev/agent/internal/wire"
)

func main() {
	sock := flag.String("sock", "", "agent socket")
	tokenFile := flag.String("token", "", "token file")
	stdin := flag.Bool("stdin", false, "forward our stdin as IN frames")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after")
	flag.Parse()
	tok, err := os.ReadFile(*tokenFile)
	check(err)
	token, err := wire.ParseToken(tok)
	check(err)
	var req map[string]any
	check(json.Unmarshal([]byte(flag.Arg(0)), &req))
	c, err := net.Dial("unix", *sock)
	check(err)
	c.SetDeadline(time.Now().Add(*timeout))
	fr := wire.NewReader(c)
	f, err := fr.Next()
	check(err)
	var hello wire.Hello
	check(f.Decode(&hello))
	auth, _ := wire.EncodeMessage(wire.Auth{Type: wire.TypeAuth, Protocol: 1, MAC: wire.ComputeMAC(token, hello.Nonce)})
	r, err := wire.EncodeMessage(req)
	check(err)
	_, err = c.Write(append(auth, r...))
	check(err)
	if *stdin {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := os.Stdin.Read(buf)
				if n > 0 {
					c.Write(wire.AppendFrame(nil, wire.KindIn, buf[:n]))
				}
				if err != nil {
					c.Write(wire.AppendFrame(nil, wire.KindIn, nil))
					return
				}
			}
		}()
	}
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return
		}
		check(err)
		switch f.Kind {
		case wire.KindOut:
			fmt.Printf("OUT %q\n", f.Payload)
		case wire.KindErr:
			fmt.Printf("ERR %q\n", f.Payload)
		default:
			fmt.Printf("MSG %s\n", f.Payload)
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
