// Preloaded into Portkey only with `--profile`: it has no SIGTERM handler, so the default action
// would kill it before V8 writes the `--cpu-prof` profile. Exiting normally lets the profile out.
process.once('SIGTERM', () => process.exit(0));
