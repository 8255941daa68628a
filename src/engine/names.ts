/** How jobs and teams may be named: lowercase letters, digits and dashes, at most 63 characters. Pure. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
