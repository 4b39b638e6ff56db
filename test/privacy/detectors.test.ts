/**
 * The detectors one by one: what each finds (with validators and context), what it must not
 * find (technical text: product names, versions, hashes, UUIDs, code), and odd input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveOverlaps, scan, ScanFailure } from '../../src/privacy/scanner.js';
import type { EntityType, Finding } from '../../src/privacy/types.js';

function found(text: string): Array<[EntityType, string]> {
  return scan(text).map((f) => [f.type, text.slice(f.start, f.end)]);
}

function has(text: string, type: EntityType, value: string): void {
  const got = found(text);
  assert.ok(
    got.some(([t, v]) => t === type && v === value),
    `expected ${type} ${JSON.stringify(value)} in ${JSON.stringify(text)}; got ${JSON.stringify(got)}`,
  );
}

function none(text: string, types?: EntityType[]): void {
  const got = found(text).filter(([t]) => !types || types.includes(t));
  assert.deepEqual(got, [], `expected no findings in ${JSON.stringify(text)}`);
}

describe('structured identifiers', () => {
  test('e-mail addresses, including unicode local parts and subdomains', () => {
    has('write to jane.doe+tag@mail.example.co.uk please', 'EMAIL_ADDRESS', 'jane.doe+tag@mail.example.co.uk');
    has('contact: józef.nowak@przyklad.pl.', 'EMAIL_ADDRESS', 'józef.nowak@przyklad.pl');
    none('the @decorator syntax and user@ alone', ['EMAIL_ADDRESS']);
  });

  test('credit cards need a valid Luhn checksum', () => {
    has('card 4111 1111 1111 1111 exp 12/27', 'CREDIT_CARD', '4111 1111 1111 1111');
    has('Amex: 3782-822463-10005', 'CREDIT_CARD', '3782-822463-10005');
    none('order 4111 1111 1111 1112 shipped', ['CREDIT_CARD']);
  });

  test('IBANs need the registry length and mod-97', () => {
    has('IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX', 'IBAN_CODE', 'DE89 3704 0044 0532 0130 00');
    has('pay to GB82WEST12345698765432 today', 'IBAN_CODE', 'GB82WEST12345698765432');
    none('IBAN DE89 3704 0044 0532 0130 01', ['IBAN_CODE']);
  });

  test('US SSNs exclude never-issued ranges; undashed ones need context', () => {
    has('SSN: 123-45-6789', 'US_SSN', '123-45-6789');
    has('my social security number is 123456780', 'US_SSN', '123456780');
    none('ids 000-12-3456 and 666-12-3456 and 900-12-3456', ['US_SSN']);
    none('tracking 123456780 arrives monday', ['US_SSN']);
  });

  test('phone numbers, international and national, with context', () => {
    has('call me on +44 20 7946 0958 tomorrow', 'PHONE_NUMBER', '+44 20 7946 0958');
    has('Tel.: 030 12345678', 'PHONE_NUMBER', '030 12345678');
    has('reach me at (415) 555-2671', 'PHONE_NUMBER', '(415) 555-2671');
    has('mobile 06 12 34 56 78', 'PHONE_NUMBER', '06 12 34 56 78');
    none('released 2024-03-15, build 10.2.1.33, invoice 20240315', ['PHONE_NUMBER']);
  });

  test('IP addresses v4 and v6; loopback and versions are not', () => {
    has('login from 203.0.113.42 failed', 'IP_ADDRESS', '203.0.113.42');
    has('peer 2001:db8:85a3::8a2e:370:7334 connected', 'IP_ADDRESS', '2001:db8:85a3::8a2e:370:7334');
    none('listening on 127.0.0.1 and ::1, version 1.2.3.4', ['IP_ADDRESS']);
  });

  test('URLs and domain names, not code members or file names', () => {
    has('see https://shop.example.com/orders/123?x=1.', 'URL', 'https://shop.example.com/orders/123?x=1');
    has('our site acme-widgets.com is down', 'DOMAIN_NAME', 'acme-widgets.com');
    none('call console.info(user.email) then run setup.py and read README.md', ['DOMAIN_NAME', 'URL']);
  });

  test('crypto wallets', () => {
    has('send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT now', 'CRYPTO', '1BoatSLRHtKNngkdXEeobR76b53LETtpyT');
    has('ETH 0x52908400098527886E0F7030069857D2E4169EE7', 'CRYPTO', '0x52908400098527886E0F7030069857D2E4169EE7');
    has('wallet bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', 'CRYPTO', 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq');
  });

  test('US driver licence, bank numbers and medical licences need their context', () => {
    has("driver's license number D1234567", 'US_DRIVER_LICENSE', 'D1234567');
    has('account number 000123456789', 'US_BANK_NUMBER', '000123456789');
    has('routing number 021000021', 'US_BANK_NUMBER', '021000021');
    has('prescriber DEA number BJ6125341', 'MEDICAL_LICENSE', 'BJ6125341');
    none('Invoice 000123456789 and D1234567', ['US_BANK_NUMBER', 'US_DRIVER_LICENSE']);
  });

  test('dates and times in several languages; month names alone are not dates', () => {
    has('on March 3, 2024 at 14:30', 'DATE_TIME', 'March 3, 2024');
    has('am 3. März 2024', 'DATE_TIME', '3. März 2024');
    has('le 12 janvier 2025', 'DATE_TIME', '12 janvier 2025');
    has('el 4 de agosto de 2021', 'DATE_TIME', '4 de agosto de 2021');
    has('born 1985-07-23', 'DATE_TIME', '1985-07-23');
    none('May I ask about it? I use Python 3.11.4', ['DATE_TIME']);
  });
});

describe('secrets', () => {
  test('provider tokens, JWTs and private keys', () => {
    has('key AKIAIOSFODNN7EXAMPLE works', 'SECRET', 'AKIAIOSFODNN7EXAMPLE');
    has('token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked', 'SECRET', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    has('use sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z please', 'SECRET', 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z');
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234abcd\n-----END RSA PRIVATE KEY-----';
    has(`my key:\n${pem}\nthanks`, 'SECRET', pem);
  });

  test('passwords in assignments and connection strings', () => {
    has('DB_PASSWORD=hunter2!Secure', 'SECRET', 'hunter2!Secure');
    has('{"password": "c0rrect-h0rse"}', 'SECRET', 'c0rrect-h0rse');
    has('postgres://app:s3cr3tpw@db.internal:5432/app', 'SECRET', 's3cr3tpw');
    none('password: ${DB_PASSWORD} and token = null; the password is wrong', ['SECRET']);
  });

  test('hex digests and UUIDs are not secrets; code-block hashes need a credential word', () => {
    none('commit 9fceb02d0ae598e95dc970b74767f19372d61af8 and request 3fa85f64-5717-4562-b3fc-2c963f66afa6', ['SECRET']);
    none('```\nintegrity: sha512-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A=\n```', ['SECRET']);
    has('here is the api token: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2Rl', 'SECRET', 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2Rl');
  });
});

describe('people, places, organisations', () => {
  test('names from the gazetteer, with titles, greetings and sign-offs', () => {
    has('Hi David Johnson, thanks for the update.', 'PERSON', 'David Johnson');
    has('Sehr geehrte Frau Schneider, vielen Dank.', 'PERSON', 'Schneider');
    has('Best regards,\nPriya Raghunathan', 'PERSON', 'Priya Raghunathan');
    has('Ludwig van Beethoven wrote it', 'PERSON', 'Ludwig van Beethoven');
  });

  test('names outside every list are found from context', () => {
    // neither word is in the gazetteer: the honorific and the sign-off carry it
    has('Dear Mr. Qwertzuiop, your order shipped.', 'PERSON', 'Qwertzuiop');
    has('my name is Zorblax Quintavelle and I need help', 'PERSON', 'Zorblax Quintavelle');
    // a known given name makes an unknown capitalised surname a name
    has('Please ask Sarah Vandermolenkamp about it.', 'PERSON', 'Sarah Vandermolenkamp');
  });

  test('places: gazetteer cities and countries, street addresses, towns after a cue', () => {
    has('She lives in North Jedidiah now.', 'LOCATION', 'North Jedidiah');
    has('the office in Amsterdam is closed', 'LOCATION', 'Amsterdam');
    has('Ship it to 742 Evergreen Terrace, Springfield, IL 62704.', 'LOCATION', '742 Evergreen Terrace, Springfield, IL 62704');
    has('Adresse: Hauptstraße 12a, 10115 Berlin.', 'LOCATION', 'Hauptstraße 12a, 10115 Berlin');
    has('moved to Nuevo Quintanar last year', 'LOCATION', 'Nuevo Quintanar');
  });

  test('organisations by legal form and by firm-name shape', () => {
    has('invoice from Müller & Schmidt GmbH arrived', 'ORGANIZATION', 'Müller & Schmidt GmbH');
    has('He works at Conn and Sons.', 'ORGANIZATION', 'Conn and Sons');
    has('billed by Acme Holdings Inc. twice', 'ORGANIZATION', 'Acme Holdings Inc.');
  });

  test('no false alarms on technical text and common words', () => {
    const tech = [
      'Deploy to EKS with S3 and C4 instances; GPT-4 answered after v2.3.1.',
      'Our Kubernetes 1.29 cluster on AWS uses Redis 7.2, Postgres 16 and Kafka.',
      'Will you merge it? May I ask why Claude and Gemini disagree?',
      'The API returns JSON. Use Docker on Linux or macOS with Node 20.',
      '```python\nimport numpy as np\nprint(np.array([1, 2]).sum())\n```',
      'request 3fa85f64-5717-4562-b3fc-2c963f66afa6 took 120 ms; sha 9fceb02d0ae598e95dc970b74767f19372d61af8',
    ];
    for (const text of tech) none(text);
  });
});

describe('odd input never crashes', () => {
  test('emoji, RTL, CJK, control characters, lone surrogates, binary garbage', () => {
    const inputs = [
      '',
      '😀'.repeat(1000),
      'مرحبا بك يا أحمد في الرياض',
      '张伟住在北京市朝阳区，电话 13800138000',
      '\u0000\u0001\u0002\ud800\udfff\ud800 abc \uffff',
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
      'a'.repeat(200_000),
      '1-'.repeat(50_000),
      '@'.repeat(10_000) + 'x@y.com',
      'A.'.repeat(40_000),
    ];
    for (const text of inputs) {
      const findings = scan(text);
      for (const f of findings) assert.ok(f.start >= 0 && f.end <= text.length && f.start < f.end);
    }
  });

  test('1 MB of mixed text is scanned, and findings in it are still found', () => {
    const chunk = 'Hello Maria Garcia, your card 4111 1111 1111 1111 and email maria@example.com. ';
    const text = chunk.repeat(Math.ceil(1_000_000 / chunk.length));
    const findings = scan(text);
    assert.equal(findings.filter((f) => f.type === 'CREDIT_CARD').length, Math.ceil(1_000_000 / chunk.length));
  });

  test('a detector that throws fails the scan (closed), naming the detector, not the text', () => {
    const boom = { name: 'boom', types: ['PERSON'] as EntityType[], detect: () => { throw new Error('secret value 4111 1111 1111 1111'); } };
    assert.throws(() => scan('some text', { detectors: [boom] }), (err: unknown) => err instanceof ScanFailure && !err.message.includes('4111') && err.message.includes('boom'));
  });

  test('a scan past its time budget fails', () => {
    let t = 0;
    const slow = { name: 'slow', types: ['PERSON'] as EntityType[], detect: () => { t += 1000; } };
    assert.throws(() => scan('text', { detectors: [slow], budgetMs: 10, now: () => t }), (err: unknown) => err instanceof ScanFailure && err.reason === 'time_budget');
  });
});

describe('overlap resolution', () => {
  test('keeps the more specific finding: containers on near-equal scores, higher scores otherwise', () => {
    const f = (type: EntityType, start: number, end: number, score: number): Finding => ({ type, start, end, score });
    const kept = resolveOverlaps([f('DOMAIN_NAME', 8, 19, 0.8), f('URL', 0, 30, 0.9), f('PERSON', 40, 45, 0.6), f('LOCATION', 40, 60, 0.9)]);
    assert.deepEqual(kept.map((k) => k.type), ['URL', 'LOCATION']);
  });
});
