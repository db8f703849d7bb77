export { SkeinError, errorTable, isSkeinError, type ErrorCode } from './errors.js';
