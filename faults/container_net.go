package faults

func init() {
	registerContainerFault("container-net-disconnect",
		"disconnect the server's or a worker's container from the run's Docker network (its published ports go too); reconnect when healed",
		Container.Disconnect, Container.Connect)
}
