/* placeholder until the shim lands */
int bf_shim_abi_version(void);
int bf_shim_abi_version(void) { return 1; }
