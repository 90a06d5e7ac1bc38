package faults

func init() {
	registerContainerFault("container-kill",
		"docker kill (SIGKILL) the server's or a worker's container; start it again when healed (the server on the same data)",
		Container.Kill, Container.Start)
}
