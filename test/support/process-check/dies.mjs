// A stand-in for the `skein` command (test/process-check.test.ts): it says it listens, then dies of an unhandled rejection.
console.log('skein broker: listening on 127.0.0.1');
setTimeout(() => void Promise.reject(new Error('process-check: a broker rejection nobody handles')), 50);
setTimeout(() => {}, 10_000);
