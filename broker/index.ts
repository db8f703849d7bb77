export { SkeinError, isSkeinError, type ErrorCode } from '../transport/errors.js';
