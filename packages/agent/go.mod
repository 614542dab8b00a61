module axo.dev/agent

go 1.23
